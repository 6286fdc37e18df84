//! Where a scope's request tasks run, and how the code waiting on the scope waits.
//!
//! With smol, each scope gets an executor of its own ([`par_http_smol::ScopeExecutor`])
//! that the thread waiting on the scope runs, together with smol's IO reactor, so that
//! the steps of a request need no wake-up across threads (the blocking scope and the
//! smol async scope were half as fast with every task on a background thread). A
//! background driver on the client's runtime thread runs the tasks while nobody waits
//! on the scope, so a request never stalls because its caller is busy elsewhere.
//!
//! With tokio, tasks run on the client's runtime as everything else: a current-thread
//! runtime already runs them on the caller's thread, and a blocking client's waiting
//! caller drives the client's runtime itself (see [`crate::tokio_driver`]).

use std::future::Future;
#[cfg(feature = "smol")]
use std::sync::Arc;

use par_http_core::{Scope, ScopeOptions};

use crate::agent::Agent;
use crate::runtimes::Executor;

/// A scope's task executor, if it has its own; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct LocalTasks {
    #[cfg(feature = "smol")]
    executor: Option<(par_http_smol::ScopeExecutor, Arc<par_http_core::Task>)>,
}

impl LocalTasks {
    /// Opens a scope on `client` (which runs on `executor`, if it is one of par-http's
    /// own) with `options`, and the executor its tasks run on: the scope's own with smol
    /// (its background driver on the client's runtime), the client's runtime otherwise.
    pub(crate) fn open(
        client: &par_http_core::Client,
        executor: Option<Executor>,
        options: ScopeOptions,
    ) -> (Scope, Self) {
        #[cfg(feature = "smol")]
        if executor == Some(Executor::Smol) {
            let local = par_http_smol::ScopeExecutor::new().run_queued_on_leave();
            let driver = client.runtime().spawn(Box::pin(local.background()));
            let scope = client.scope(options.spawner(Arc::new(local.clone())));
            let executor = Some((local, Arc::new(driver)));
            return (scope, Self { executor });
        }
        let _ = executor;
        let tasks = Self {
            #[cfg(feature = "smol")]
            executor: None,
        };
        (client.scope(options), tasks)
    }

    /// Blocks on `future` (through `agent`, the blocking client's), running the scope's
    /// tasks meanwhile when they are ours to run.
    pub(crate) fn wait<T>(&self, agent: &Agent, future: impl Future<Output = T>) -> T {
        agent.wait(self.run(future))
    }

    /// As [`wait`](Self::wait), for a future that spawns the scope's tasks.
    pub(crate) fn wait_spawning<T>(&self, agent: &Agent, future: impl Future<Output = T>) -> T {
        agent.wait_spawning(self.run(future))
    }

    /// Awaits `future`, running the scope's tasks meanwhile when they are ours to run.
    pub(crate) async fn run<T>(&self, future: impl Future<Output = T>) -> T {
        #[cfg(feature = "smol")]
        if let Some((executor, _)) = &self.executor {
            return executor.run(future).await;
        }
        future.await
    }
}
