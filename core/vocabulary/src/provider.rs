//! One trait, two places: code written against [`DataProvider`] runs unchanged on an
//! embedded engine (`one::Local`) and on a remote server (`one_client::Remote`).
//!
//! A provider acts as one principal (the context of the embedded engine, the credential
//! of the remote client). It runs requests of the vocabulary, batches of them in one
//! transaction, and follows the change feed from a cursor. The typed helpers below are
//! [`DataProvider::execute`] with the request built and the response unpacked, so both
//! places answer alike by construction.

use std::time::Duration;

use crate::id::{EventId, ThingId};
use crate::operations::ChangeFilter;
use crate::page::Page;
use crate::records::connection::{Connection, NewConnection};
use crate::records::event::Event;
use crate::records::thing::{NewThing, Thing, ThingQuery, ThingUpdate};
use crate::request::Request;
use crate::response::{Failure, Response};

/// Changes from the feed, in commit order, from a cursor on.
pub trait ChangeStream {
    /// The next change, waiting at most `timeout`; `None` if none came in that time.
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Event>, Failure>;

    /// The id of the last change passed: follow again from here, with no gap and no
    /// repeat.
    fn cursor(&self) -> Option<EventId>;

    /// The indexes of the filters the change returned last matched, in the order they
    /// were given to [`DataProvider::follow_all`] (`[0]` when following one filter).
    fn matched(&self) -> Vec<usize>;
}

/// What runs the vocabulary: an embedded engine or a remote server.
pub trait DataProvider {
    /// Runs one request.
    fn execute(&self, request: Request) -> Result<Response, Failure>;

    /// Runs requests (in their JSON form) in one transaction, all or nothing; in a step,
    /// `{"$ref": n}` stands for the id of the record step `n` returned.
    fn batch(&self, steps: &[serde_json::Value]) -> Result<Vec<Response>, Failure>;

    /// Follows the changes that match any of `filters`, in one stream with one cursor:
    /// after the event `after` (replaying the stored log first), or from the next commit
    /// with `None`. Each change comes once; [`ChangeStream::matched`] says which filters
    /// it matched.
    fn follow_all(
        &self,
        filters: Vec<ChangeFilter>,
        after: Option<EventId>,
    ) -> Result<Box<dyn ChangeStream + '_>, Failure>;

    /// Follows the changes that match `filter`, as [`DataProvider::follow_all`] does.
    fn follow(
        &self,
        filter: ChangeFilter,
        after: Option<EventId>,
    ) -> Result<Box<dyn ChangeStream + '_>, Failure> {
        self.follow_all(vec![filter], after)
    }

    /// Makes a thing.
    fn create_thing(&self, new: NewThing) -> Result<Thing, Failure> {
        match self.execute(Request::CreateThing(new))? {
            Response::Thing(t) => Ok(t),
            other => Err(unexpected("create_thing", &other)),
        }
    }

    /// A thing.
    fn get_thing(&self, id: ThingId) -> Result<Thing, Failure> {
        match self.execute(Request::GetThing { id })? {
            Response::Thing(t) => Ok(t),
            other => Err(unexpected("get_thing", &other)),
        }
    }

    /// Changes a thing.
    fn update_thing(&self, id: ThingId, update: ThingUpdate) -> Result<Thing, Failure> {
        match self.execute(Request::UpdateThing { id, update })? {
            Response::Thing(t) => Ok(t),
            other => Err(unexpected("update_thing", &other)),
        }
    }

    /// A page of things of one type.
    fn things(&self, query: ThingQuery) -> Result<Page<Thing>, Failure> {
        match self.execute(Request::Things(query))? {
            Response::ThingPage(p) => Ok(p),
            other => Err(unexpected("things", &other)),
        }
    }

    /// Connects two records.
    fn connect(&self, new: NewConnection) -> Result<Connection, Failure> {
        match self.execute(Request::Connect(new))? {
            Response::Connection(c) => Ok(c),
            other => Err(unexpected("connect", &other)),
        }
    }
}

/// A response of another shape than the operation answers with: a bug of the provider.
fn unexpected(op: &str, got: &Response) -> Failure {
    Failure::from(crate::Error::Internal {
        reason: format!("`{op}` answered `{}`", got.shape()),
    })
}
