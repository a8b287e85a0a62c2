//! The embedded engine as a [`DataProvider`]: an open database and the context it acts
//! as. The same code runs on it and on `one_client::Remote`.

use std::sync::Arc;
use std::time::Duration;

use one_vocabulary::provider::{ChangeStream, DataProvider};

use crate::{
    ChangeFilter, Context, Error, Event, EventId, Failure, Ontology, Request, Response,
    Subscription,
};

/// An open database acting as one context.
#[derive(Clone)]
pub struct Local {
    db: Arc<Ontology>,
    ctx: Context,
}

impl Local {
    /// `db`, acting as `ctx`.
    pub fn new(db: Arc<Ontology>, ctx: Context) -> Local {
        Local { db, ctx }
    }

    /// The context it acts as.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl DataProvider for Local {
    fn execute(&self, request: Request) -> Result<Response, Failure> {
        self.db
            .execute(&self.ctx, request)
            .map_err(|e| Failure::from(&e))
    }

    fn batch(&self, steps: &[serde_json::Value]) -> Result<Vec<Response>, Failure> {
        self.db.execute_batch(&self.ctx, steps)
    }

    fn follow_all(
        &self,
        filters: Vec<ChangeFilter>,
        after: Option<EventId>,
    ) -> Result<Box<dyn ChangeStream + '_>, Failure> {
        let sub = self
            .db
            .engine()
            .subscribe_all(&self.ctx, filters, after)
            .map_err(|e| Failure::from(&e))?;
        Ok(Box::new(LocalFeed { db: &self.db, sub }))
    }
}

/// A subscription of the embedded engine.
struct LocalFeed<'a> {
    db: &'a Ontology,
    sub: Subscription,
}

impl ChangeStream for LocalFeed<'_> {
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Event>, Failure> {
        match self.sub.next_timeout(self.db.engine(), timeout) {
            // A lagged subscription resumes from its cursor: nothing is lost.
            Err(Error::Lagged { .. }) => self.sub.try_next(self.db.engine()),
            other => other,
        }
        .map_err(|e| Failure::from(&e))
    }

    fn cursor(&self) -> Option<EventId> {
        self.sub.cursor()
    }

    fn matched(&self) -> Vec<usize> {
        self.sub.matched()
    }
}
