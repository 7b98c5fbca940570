//! Running flows: closed loop (each teller starts its next flow when its
//! last one ends) or open loop (flows start at a fixed rate), with a
//! progress line per second on stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cli::{Pacing, Stop};
use crate::flow::{FlowOutcome, Teller, run_flow};
use crate::setup::FedDeposit;
use crate::stats::Tally;

/// Interval between two progress lines.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// Finished flows buffered between the flows and the task that tallies
/// them.
const OUTCOME_BUFFER: usize = 4096;

/// The result of one phase.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    pub tally: Tally,
    /// From the first flow's start to the last flow's end.
    pub elapsed: Duration,
    /// True when the phase ended early because every fed deposit was used.
    pub ran_out_of_deposits: bool,
}

/// Deposits handed out to flows, each once.
struct DepositQueue {
    deposits: Vec<FedDeposit>,
    next: AtomicUsize,
}

impl DepositQueue {
    fn take(&self) -> Option<&FedDeposit> {
        self.deposits.get(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// Counters the progress line reads while the phase runs.
#[derive(Default)]
struct Progress {
    completed: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU64,
}

/// Runs one phase of flows on `deposits` and tallies them. `label` names
/// the phase in the progress lines.
pub async fn run_phase(
    label: &'static str,
    tellers: &Arc<Vec<Teller>>,
    deposits: Vec<FedDeposit>,
    stop: Stop,
    pacing: Pacing,
) -> PhaseResult {
    let queue = Arc::new(DepositQueue {
        deposits,
        next: AtomicUsize::new(0),
    });
    let progress = Arc::new(Progress::default());
    let ran_out = Arc::new(AtomicBool::new(false));
    let (outcomes, mut received) = mpsc::channel::<FlowOutcome>(OUTCOME_BUFFER);

    let tally_progress = Arc::clone(&progress);
    let tally_task = tokio::spawn(async move {
        let mut tally = Tally::default();
        while let Some(outcome) = received.recv().await {
            tally.record(&outcome);
            let counter = if outcome.result.is_ok() {
                &tally_progress.completed
            } else {
                &tally_progress.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        tally
    });
    let (stop_progress, progress_stopped) = tokio::sync::oneshot::channel::<()>();
    let progress_task = tokio::spawn(print_progress(label, Arc::clone(&progress), progress_stopped));

    let started = Instant::now();
    let context = Context {
        tellers: Arc::clone(tellers),
        queue,
        progress,
        ran_out: Arc::clone(&ran_out),
        outcomes,
    };
    let skipped = match pacing {
        Pacing::ClosedLoop => {
            closed_loop(context, stop, started).await;
            0
        }
        Pacing::OpenLoop {
            flows_per_sec,
            max_in_flight,
        } => open_loop(context, stop, started, flows_per_sec, max_in_flight).await,
    };
    let elapsed = started.elapsed();

    let _ = stop_progress.send(());
    let _ = progress_task.await;
    let mut tally = tally_task.await.unwrap_or_default();
    tally.skipped = skipped;
    PhaseResult {
        tally,
        elapsed,
        ran_out_of_deposits: ran_out.load(Ordering::Relaxed),
    }
}

/// The state every flow task shares.
#[derive(Clone)]
struct Context {
    tellers: Arc<Vec<Teller>>,
    queue: Arc<DepositQueue>,
    progress: Arc<Progress>,
    ran_out: Arc<AtomicBool>,
    outcomes: mpsc::Sender<FlowOutcome>,
}

impl Context {
    /// Counts a flow in flight until the returned guard is dropped.
    fn enter(&self) -> InFlight {
        self.progress.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.progress))
    }

    /// Runs one flow of teller `teller` and sends its outcome.
    async fn flow(&self, teller: usize, deposit: &FedDeposit, started: Instant) {
        let outcome = run_flow(&self.tellers[teller], deposit, started).await;
        // The receiver lives until every sender is dropped.
        let _ = self.outcomes.send(outcome).await;
    }
}

/// A flow in flight, counted until dropped.
struct InFlight(Arc<Progress>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs flows back to back on every teller until the phase ends.
async fn closed_loop(context: Context, stop: Stop, started: Instant) {
    let flow_limit = match stop {
        Stop::Flows(flows) => flows,
        Stop::After(_) => u64::MAX,
    };
    let deadline = match stop {
        Stop::After(duration) => Some(started + duration),
        Stop::Flows(_) => None,
    };
    let flows_started = Arc::new(AtomicU64::new(0));
    let mut tellers = JoinSet::new();
    for teller in 0..context.tellers.len() {
        let (context, flows_started) = (context.clone(), Arc::clone(&flows_started));
        tellers.spawn(async move {
            loop {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline)
                    || flows_started.fetch_add(1, Ordering::Relaxed) >= flow_limit
                {
                    return;
                }
                let Some(deposit) = context.queue.take() else {
                    context.ran_out.store(true, Ordering::Relaxed);
                    return;
                };
                let _in_flight = context.enter();
                context.flow(teller, deposit, Instant::now()).await;
            }
        });
    }
    drop(context);
    while tellers.join_next().await.is_some() {}
}

/// Starts flows at `flows_per_sec`, round-robin over the tellers, and
/// returns how many scheduled flows were skipped because `max_in_flight`
/// were running. Each flow's latency counts from its scheduled start, so a
/// late start shows in the latency instead of hiding it.
async fn open_loop(
    context: Context,
    stop: Stop,
    started: Instant,
    flows_per_sec: u32,
    max_in_flight: u32,
) -> u64 {
    let nanos_per_flow = 1_000_000_000 / u64::from(flows_per_sec.max(1));
    let mut skipped = 0;
    let mut running = JoinSet::new();
    let mut scheduled_count: u64 = 0;
    loop {
        let scheduled = started + Duration::from_nanos(nanos_per_flow.saturating_mul(scheduled_count));
        let finished = match stop {
            Stop::After(duration) => scheduled >= started + duration,
            Stop::Flows(limit) => scheduled_count >= limit,
        };
        if finished {
            break;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(scheduled)).await;
        let teller = usize::try_from(scheduled_count % context.tellers.len() as u64).unwrap_or(0);
        scheduled_count += 1;
        while running.try_join_next().is_some() {}
        if context.progress.in_flight.load(Ordering::Relaxed) >= u64::from(max_in_flight) {
            skipped += 1;
            continue;
        }
        if context.queue.deposits.len() <= context.queue.next.load(Ordering::Relaxed) {
            context.ran_out.store(true, Ordering::Relaxed);
            break;
        }
        let flow_context = context.clone();
        let in_flight = context.enter();
        running.spawn(async move {
            let _in_flight = in_flight;
            if let Some(deposit) = flow_context.queue.take() {
                flow_context.flow(teller, deposit, scheduled).await;
            }
        });
    }
    drop(context);
    while running.join_next().await.is_some() {}
    skipped
}

/// Prints one line per second on stderr until `stopped` resolves.
async fn print_progress(
    label: &'static str,
    progress: Arc<Progress>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.tick().await;
    let mut last_completed = 0;
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = ticker.tick() => {}
        }
        let completed = progress.completed.load(Ordering::Relaxed);
        eprintln!(
            "bank-load: {label} {:>4} s  flows {completed}  {} flows/s  errors {}  in flight {}",
            started.elapsed().as_secs(),
            completed - last_completed,
            progress.failed.load(Ordering::Relaxed),
            progress.in_flight.load(Ordering::Relaxed),
        );
        last_completed = completed;
    }
}
