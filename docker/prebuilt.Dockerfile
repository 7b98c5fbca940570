# Image with both service binaries, packed from binaries built on the host
# (scripts/docker-images.sh), for machines that cannot pull the Rust image.
# The binaries link only glibc, so the runtime image must be a Debian
# release with the host's glibc or newer. Apart from where the binaries come
# from, this is the final stage of docker/Dockerfile.
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUNTIME_IMAGE}
COPY deposit-status withdrawal-authorization /usr/local/bin/
COPY generate-compose-keys.sh /usr/local/bin/generate-compose-keys
# The services run as an unprivileged user. The key folders belong to it,
# so new named volumes mounted on them are writable by the keygen service.
RUN mkdir -p /keys/deposit-status /keys/withdrawal-authorization /public-keys /data \
 && chown 10001:10001 /keys/deposit-status /keys/withdrawal-authorization /public-keys /data
USER 10001:10001
WORKDIR /data
EXPOSE 50051 50052 50061 50062
