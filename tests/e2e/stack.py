"""Control of the docker-compose stack for the failure scenarios: pause,
stop and start a service, crash a container, and wait for health.

The stack is named by BANK_E2E_COMPOSE, a command prefix such as
`docker-compose -p bank-e2e -f /work/main/docker-compose.yml`. Every
command runs with a timeout and every wait is bounded.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence

import bank_client

# Compose service names of the stack.
POSTGRES = "postgres"
DEPOSIT_STATUS = "deposit-status"
AUTHORIZATION_1 = "withdrawal-authorization-1"
AUTHORIZATION_2 = "withdrawal-authorization-2"

# Timeout of one compose or docker command, in seconds. `stop` waits up to
# the service's grace period (10 s by default) before it sends SIGKILL.
COMMAND_TIMEOUT_SECONDS = 60.0
# Interval between two polls of a container's state, in seconds.
POLL_INTERVAL_SECONDS = 0.5


class StackError(RuntimeError):
    """A compose or docker command failed, or a container did not get to the expected state in time."""


class ComposeStack:
    """The compose stack named by a command prefix, and the docker CLI next to it."""

    def __init__(self, compose_command: Sequence[str], docker_command: str = "docker") -> None:
        if not compose_command:
            raise ValueError("the compose command prefix is empty")
        self.compose_command = list(compose_command)
        self.docker_command = docker_command

    @classmethod
    def from_environment(cls) -> ComposeStack | None:
        """Return the stack BANK_E2E_COMPOSE names, or None when it is unset or empty."""
        prefix = os.environ.get("BANK_E2E_COMPOSE", "").strip()
        if not prefix:
            return None
        return cls(shlex.split(prefix))

    def _run(self, command: Sequence[str]) -> str:
        """Run one command and return its stdout, raising StackError when it fails or times out."""
        try:
            completed = subprocess.run(
                list(command),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise StackError(f"{shlex.join(command)} timed out after {COMMAND_TIMEOUT_SECONDS:.0f} s") from error
        except OSError as error:
            raise StackError(f"{shlex.join(command)} could not be started: {error}") from error
        if completed.returncode != 0:
            raise StackError(
                f"{shlex.join(command)} failed with exit status {completed.returncode}: {completed.stderr.strip()}"
            )
        return completed.stdout.strip()

    def compose(self, *arguments: str) -> str:
        """Run `$BANK_E2E_COMPOSE ARGUMENTS...`."""
        return self._run([*self.compose_command, *arguments])

    def docker(self, *arguments: str) -> str:
        """Run `docker ARGUMENTS...`."""
        return self._run([self.docker_command, *arguments])

    def container_id(self, service: str) -> str:
        """Return the id of the service's container."""
        output = self.compose("ps", "-q", service)
        ids = output.split()
        if len(ids) != 1:
            raise StackError(f"expected one container of service {service}, `ps -q` listed {ids}")
        return ids[0]

    def pause(self, service: str) -> None:
        """Freeze every process of the service (docker pause)."""
        self.compose("pause", service)

    def unpause(self, service: str) -> None:
        """Resume a paused service."""
        self.compose("unpause", service)

    def stop(self, service: str) -> None:
        """Stop the service's container."""
        self.compose("stop", service)

    def start(self, service: str) -> None:
        """Start the service's stopped container again."""
        self.compose("start", service)

    def inspect(self, container_id: str, template: str) -> str:
        """Return `docker inspect -f TEMPLATE ID`."""
        return self.docker("inspect", "-f", template, container_id)

    def restart_count(self, container_id: str) -> int:
        """Return how often the restart policy has restarted the container."""
        return int(self.inspect(container_id, "{{.RestartCount}}"))

    def crash(self, service: str) -> tuple[str, int]:
        """Kill the main process of the service's container with SIGKILL from the host.

        `docker kill` is not used because Docker takes it for a manual stop and
        the restart policy would then leave the container stopped. Returns the
        container id and its restart count before the crash, for
        wait_restarted.
        """
        container_id = self.container_id(service)
        restarts = self.restart_count(container_id)
        pid = int(self.inspect(container_id, "{{.State.Pid}}"))
        if pid <= 0:
            raise StackError(f"container {container_id} of service {service} has no running process (pid {pid})")
        os.kill(pid, signal.SIGKILL)
        return container_id, restarts

    def wait_restarted(self, container_id: str, restarts_before: int, timeout: float = 60.0) -> None:
        """Wait until the restart policy has started the crashed container again."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.inspect(container_id, "{{.RestartCount}} {{.State.Running}} {{.State.Pid}}")
            restarts, running, pid = state.split()
            if int(restarts) > restarts_before and running == "true" and int(pid) > 0:
                return
            time.sleep(POLL_INTERVAL_SECONDS)
        raise StackError(
            f"container {container_id} was not restarted within {timeout:.0f} s"
            f" (restart count, running, pid: {state}). Check its restart policy."
        )

    def docker_health(self, container_id: str) -> str:
        """Return the container's health status, or "" when it has no health check."""
        return self.inspect(container_id, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")

    def wait_healthy(self, service: str, target: str, grpc_service: str, timeout: float = 120.0) -> None:
        """Wait until the service is healthy for Docker and serving on its published port.

        Docker's status is checked only for a container with a health check.
        The gRPC health check on `target` is always required, because that is
        the port the suite calls next.
        """
        deadline = time.monotonic() + timeout
        docker_status = grpc_status = "unknown"
        while time.monotonic() < deadline:
            try:
                docker_status = self.docker_health(self.container_id(service))
            except StackError as error:
                # A container that is starting may not be listed or inspectable yet.
                docker_status = f"not inspectable ({error})"
                time.sleep(POLL_INTERVAL_SECONDS)
                continue
            grpc_status = bank_client.health_status(target, grpc_service)
            if docker_status in ("", "healthy") and grpc_status == "SERVING":
                return
            time.sleep(POLL_INTERVAL_SECONDS)
        raise StackError(
            f"service {service} was not healthy within {timeout:.0f} s:"
            f" Docker health {docker_status or 'none'}, gRPC health of {grpc_service} at {target} {grpc_status}"
        )
