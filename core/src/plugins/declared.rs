//! The connection and event types plugins declare for their tenant: every connection and
//! every application event of such a type is checked against its declaration — the types
//! its ends may have, the metadata it must carry — before it is stored. Like a thing type,
//! a declared type of a disabled plugin cannot be written. Custom events, whether an
//! application or a plugin's reaction logs them, are logged here, under one rule.

use super::schema::check_fields;
use crate::access::policy::Op;
use crate::base::id::Ref;
use crate::base::layout::Declared;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::Tx;
use crate::records::event::{Event, kinds};
use crate::{Error, Result};

impl Tx<'_, '_> {
    /// Logs a custom event of type `kind` in the context's group, as the context's
    /// principal: `Tx::log_event`, and what a plugin's reaction asks for. Needs
    /// `events:write`; the engine's own event types are refused, and a declared type's
    /// metadata is checked.
    pub(crate) fn log_custom_event(
        &mut self,
        kind: &str,
        target: Option<Ref>,
        metadata: Value,
    ) -> Result<Event> {
        validate::type_name("kind", kind)?;
        if kinds::is_builtin(kind) {
            return Err(Error::invalid(
                "kind",
                format!(
                    "{kind:?} is an event type the engine logs itself; name custom events otherwise"
                ),
            ));
        }
        let group = self.scope.ctx.group();
        self.view().authorize(Op::LogEvent, group)?;
        let metadata = validate::map_value("metadata", metadata)?;
        self.check_event_type(kind, &metadata)?;
        self.log(kind, group, target, metadata)
    }

    /// Checks a connection of type `kind` against the plugin declaration of that type, if
    /// there is one: the types of its ends (`[from, to]`, for a new connection: a thing's
    /// type, `person`, or `group`) and its metadata.
    pub(crate) fn check_connection_type(
        &self,
        kind: &str,
        ends: Option<[&str; 2]>,
        metadata: &Value,
    ) -> Result<()> {
        let Some(plugin) = self.declaring(Declared::Connection, kind)? else {
            return Ok(());
        };
        let Some(schema) = plugin.manifest.connections.iter().find(|c| c.name == kind) else {
            return Ok(());
        };
        if let Some(ends) = ends {
            for ((field, end), allowed) in [("from", ends[0]), ("to", ends[1])]
                .into_iter()
                .zip([&schema.from, &schema.to])
            {
                if !allowed.is_empty() && !allowed.iter().any(|t| t == end) {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "a `{kind}` connection (declared by plugin `{}`) {} {}, not a {end}",
                            plugin.name,
                            if field == "from" {
                                "starts at"
                            } else {
                                "ends at"
                            },
                            allowed.join(" or ")
                        ),
                    ));
                }
            }
        }
        check_fields(&schema.fields, "metadata", metadata)
    }

    /// Checks an application event of type `kind` against the plugin declaration of that
    /// type, if there is one: its metadata. The engine's own event types are never
    /// declared.
    pub(crate) fn check_event_type(&self, kind: &str, metadata: &Value) -> Result<()> {
        if kinds::is_builtin(kind) {
            return Ok(());
        }
        let Some(plugin) = self.declaring(Declared::Event, kind)? else {
            return Ok(());
        };
        match plugin.manifest.events.iter().find(|e| e.name == kind) {
            Some(schema) => check_fields(&schema.fields, "metadata", metadata),
            None => Ok(()),
        }
    }
}
