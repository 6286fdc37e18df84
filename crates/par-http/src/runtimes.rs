//! Executor selection: the [`Executor`] a blocking client runs on, and the runtime
//! markers ([`Smol`], [`Tokio`]) that name an [`AsyncClient`](crate::AsyncClient)'s
//! executor in its type.
//!
//! With one runtime feature on, everything defaults to it. With both, the default is
//! smol and the other is named explicitly: `par_http::tokio::AsyncClient`, or
//! `Client::builder().executor(Executor::Tokio)` for the blocking client.

use std::sync::{Arc, OnceLock};

use par_http_core::{Error, ErrorKind, Result, Runtime};

use crate::agent::Agent;

/// The executor that runs a client's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Executor {
    /// smol: async-executor, async-io (the `smol` feature).
    #[cfg(feature = "smol")]
    Smol,
    /// tokio (the `tokio` feature).
    #[cfg(feature = "tokio")]
    Tokio,
}

impl Default for Executor {
    /// smol when its feature is on, tokio otherwise.
    fn default() -> Self {
        #[cfg(feature = "smol")]
        {
            Self::Smol
        }
        #[cfg(not(feature = "smol"))]
        {
            Self::Tokio
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A runtime an [`AsyncClient`](crate::AsyncClient) can run on: [`Smol`] or [`Tokio`].
/// Sealed: it is implemented only by those markers.
pub trait AsyncRuntime: sealed::Sealed + Send + Sync + 'static {
    /// The runtime new clients of this kind spawn onto.
    #[doc(hidden)]
    fn runtime() -> Result<Arc<dyn Runtime>>;

    /// The kind of executor.
    #[doc(hidden)]
    fn executor() -> Executor;
}

/// The smol runtime marker.
///
/// Requests run on a process-wide background executor thread (`par-http-runtime`),
/// started on first use; IO goes through async-io's reactor, which any smol
/// application shares.
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy)]
pub struct Smol;

#[cfg(feature = "smol")]
impl sealed::Sealed for Smol {}

#[cfg(feature = "smol")]
impl AsyncRuntime for Smol {
    fn runtime() -> Result<Arc<dyn Runtime>> {
        shared_agent(Executor::Smol)
    }

    fn executor() -> Executor {
        Executor::Smol
    }
}

/// The tokio runtime marker.
///
/// Requests run on the tokio runtime the client was created in (both the current-thread
/// and the multi-thread flavour). A client created outside any tokio runtime uses a
/// process-wide background runtime thread instead.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

#[cfg(feature = "tokio")]
impl sealed::Sealed for Tokio {}

#[cfg(feature = "tokio")]
impl AsyncRuntime for Tokio {
    fn runtime() -> Result<Arc<dyn Runtime>> {
        match par_http_tokio::TokioRuntime::try_current() {
            Some(runtime) => Ok(Arc::new(runtime)),
            None => shared_agent(Executor::Tokio),
        }
    }

    fn executor() -> Executor {
        Executor::Tokio
    }
}

/// The runtime [`AsyncClient`](crate::AsyncClient) uses when none is named.
#[cfg(feature = "smol")]
pub type DefaultRuntime = Smol;
/// The runtime [`AsyncClient`](crate::AsyncClient) uses when none is named.
#[cfg(not(feature = "smol"))]
pub type DefaultRuntime = Tokio;

/// A process-wide agent per executor kind, started on first use and kept for the
/// life of the process.
fn shared_agent(executor: Executor) -> Result<Arc<dyn Runtime>> {
    type Slot = OnceLock<std::result::Result<Agent, String>>;
    #[cfg(feature = "smol")]
    static SMOL: Slot = OnceLock::new();
    #[cfg(feature = "tokio")]
    static TOKIO: Slot = OnceLock::new();
    let slot: &Slot = match executor {
        #[cfg(feature = "smol")]
        Executor::Smol => &SMOL,
        #[cfg(feature = "tokio")]
        Executor::Tokio => &TOKIO,
    };
    let agent = slot.get_or_init(|| Agent::start(executor).map_err(|err| err.to_string()));
    match agent {
        Ok(agent) => Ok(agent.runtime().clone()),
        Err(reason) => Err(Error::new(ErrorKind::RuntimeGone).with_source(reason.clone())),
    }
}
