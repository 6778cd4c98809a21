//! The page's one conversation with the engine: requests go one at a time,
//! and the panels learn when the engine becomes busy or idle (to enable
//! their buttons) without knowing of each other or of the shell.

use std::cell::{Cell, RefCell};

use crate::{
    engine_client::EngineClient,
    page::dom,
    protocol::{PageMessage, ToEngine},
};

/// What the engine is busy with, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    Idle,
    /// Not started yet, or unable to run here: nothing can be asked.
    Unavailable,
    SelfTest,
    Generating,
    /// Reading the headers of files the user chose.
    CheckingFiles,
    Importing,
    /// Checking or deleting an imported model.
    Managing,
    /// Running the visualizer's requests (noising, restoring).
    Visualizing,
}

/// Told of every change of what the engine is busy with.
type Watcher = Box<dyn Fn(Busy)>;

pub struct Session {
    engine: RefCell<Option<EngineClient>>,
    busy: Cell<Busy>,
    watchers: RefCell<Vec<Watcher>>,
}

impl Session {
    pub fn new() -> Self {
        Self {
            engine: RefCell::new(None),
            busy: Cell::new(Busy::Unavailable),
            watchers: RefCell::new(Vec::new()),
        }
    }

    pub fn set_engine(&self, engine: EngineClient) {
        *self.engine.borrow_mut() = Some(engine);
    }

    pub fn busy(&self) -> Busy {
        self.busy.get()
    }

    /// Calls `watch` now and whenever the engine's business changes.
    pub fn watch(&self, watch: impl Fn(Busy) + 'static) {
        watch(self.busy.get());
        self.watchers.borrow_mut().push(Box::new(watch));
    }

    pub fn set_busy(&self, busy: Busy) {
        self.busy.set(busy);
        dom::set_state(match busy {
            Busy::Idle => "ready",
            Busy::Unavailable => "error",
            _ => "busy",
        });
        for watch in self.watchers.borrow().iter() {
            watch(busy);
        }
    }

    /// Whether the engine can take a request now, or why not.
    pub fn ready(&self) -> Result<(), String> {
        match self.busy.get() {
            Busy::Idle => Ok(()),
            Busy::Unavailable => Err("The engine is not running.".into()),
            _ => Err("Wait for the engine to finish first.".into()),
        }
    }

    /// Sends a request that keeps the engine `busy` until its reply; refused
    /// while another is running.
    pub fn request(&self, busy: Busy, message: &PageMessage) -> Result<(), String> {
        self.ready()?;
        self.post(message)?;
        dom::clear_error();
        self.set_busy(busy);
        Ok(())
    }

    /// Sends the next request of a sequence a surface started with
    /// [`Self::request`] (a run's next step): the engine stays busy.
    pub fn follow(&self, request: ToEngine) {
        if let Err(message) = self.post(&PageMessage::Request(request)) {
            self.set_busy(Busy::Idle);
            dom::show_error(&message);
        }
    }

    /// Sends a request that does not occupy the engine (cancel, what to
    /// show, the model list); a failure to send is shown in the page.
    pub fn send(&self, request: ToEngine) {
        if let Err(message) = self.post(&PageMessage::Request(request)) {
            dom::show_error(&message);
        }
    }

    fn post(&self, message: &PageMessage) -> Result<(), String> {
        self.engine
            .borrow()
            .as_ref()
            .ok_or("the engine is not running")?
            .post(message)
    }
}
