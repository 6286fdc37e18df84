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

/// The runtime an [`AsyncClientOn<R>`](crate::AsyncClientOn) runs on, named by a marker
/// type: [`Smol`] and [`Tokio`] here, or one of an application's own.
///
/// An application with an executor of its own implements this for a marker type and
/// names its client `AsyncClientOn<Marker>`; every client built that way (also with
/// `AsyncClientOn::<Marker>::new()`) sends its requests on that runtime. The builder's
/// [`runtime`](crate::ClientBuilder::runtime) sets one for a single client instead. See
/// [`Runtime`] for the contract, and the README's section "Your own executor".
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "smol")] {
/// use std::sync::{Arc, OnceLock};
///
/// /// The application's runtime (here smol's, on an executor the application runs).
/// struct AppRuntime;
///
/// impl par_http::AsyncRuntime for AppRuntime {
///     fn runtime() -> par_http::Result<Arc<dyn par_http::Runtime>> {
///         static EXECUTOR: OnceLock<Arc<async_executor::Executor<'static>>> = OnceLock::new();
///         let executor = EXECUTOR.get_or_init(|| Arc::new(async_executor::Executor::new()));
///         Ok(Arc::new(par_http::smol::SmolRuntime::with_executor(executor.clone())))
///     }
/// }
///
/// type AppClient = par_http::AsyncClientOn<AppRuntime>;
/// let client = AppClient::builder().build()?;
/// # drop(client);
/// # }
/// # Ok::<(), par_http::Error>(())
/// ```
pub trait AsyncRuntime: Send + Sync + 'static {
    /// The runtime new clients of this kind send their requests on.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be had (a thread that cannot be started, say): building
    /// the client fails with it.
    fn runtime() -> Result<Arc<dyn Runtime>>;

    /// Which of par-http's own executors this is, if it is one of them (a smol scope's
    /// tasks then run on an executor of the scope's own, driven by whoever waits).
    #[doc(hidden)]
    fn executor() -> Option<Executor> {
        None
    }
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
impl AsyncRuntime for Smol {
    fn runtime() -> Result<Arc<dyn Runtime>> {
        shared_agent(Executor::Smol)
    }

    fn executor() -> Option<Executor> {
        Some(Executor::Smol)
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
impl AsyncRuntime for Tokio {
    fn runtime() -> Result<Arc<dyn Runtime>> {
        match par_http_tokio::TokioRuntime::try_current() {
            Some(runtime) => Ok(Arc::new(runtime)),
            None => shared_agent(Executor::Tokio),
        }
    }

    fn executor() -> Option<Executor> {
        Some(Executor::Tokio)
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
