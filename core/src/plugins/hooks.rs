//! What runs when a thing of a plugin's type is written: the plugin's `prepare` in the
//! same transaction (its answer checked against the type's fields), and, after commit,
//! its reaction, which acts as the plugin's own principal (what its tenant granted it) and
//! may only log events.

use std::sync::Arc;

use one_plugin_sdk::abi::{Action, Op};
use one_storage::KvRead;

use super::bindings::TypePlugin;
use super::reads::Reads;
use super::runtime::{
    ChangeInput, ModuleHash, NoReads, PluginRuntime, Plugins, PrepareInput, failed,
};
use super::schema::check_fields;
use crate::access::plugins::principal_of;
use crate::base::context::{Context, Env};
use crate::base::id::{GroupId, Ref};
use crate::base::layout::{self, Declared};
use crate::base::permission::Permission;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Engine, Tx};
use crate::records::event::kinds;
use crate::records::thing::Thing;
use crate::{Error, Result};
/// A reaction owed after commit: a change to a thing of a reacting plugin's type.
#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    root: GroupId,
    env: Env,
    plugin: String,
    module: ModuleHash,
    thing: Thing,
    event: &'static str,
}

/// The most follow-up actions one reaction may ask for.
pub const MAX_ACTIONS: usize = 16;

impl Reaction {
    /// What the reaction acts as: its plugin, in the changed thing's group.
    fn principal(&self) -> Context {
        Context::plugin(
            principal_of(self.root, &self.plugin),
            self.thing.group,
            self.env,
        )
    }
}

/// What the plugin hears about the change `r` owes it.
fn change_of(r: &Reaction) -> ChangeInput<'_> {
    ChangeInput {
        event: r.event,
        thing: r.thing.id.to_string(),
        group: r.thing.group.to_string(),
        kind: &r.thing.kind,
        name: &r.thing.name,
        properties: &r.thing.properties,
    }
}

impl Engine {
    /// Runs the reactions a committed transaction owes: each reacting plugin hears about
    /// the change and its actions are applied in one transaction per reaction. Failures
    /// are logged as `plugin_failed` events; they cannot undo the commit.
    pub(crate) fn react(&self, reactions: Vec<Reaction>) {
        for r in reactions {
            let ctx = r.principal();
            let outcome = self
                .part::<Plugins>()
                .runtime(&r.plugin)
                .and_then(|rt| {
                    if !rt.reads(&r.module) {
                        return rt
                            .react(&r.module, &change_of(&r), &mut NoReads)
                            .map_err(|reason| failed(&r.plugin, reason));
                    }
                    self.read(&ctx, |view| {
                        let mut reads = Reads::new(*view, &r.plugin, r.thing.group);
                        let actions = rt.react(&r.module, &change_of(&r), &mut reads);
                        match reads.failure {
                            Some(e) => Err(e),
                            None => actions.map_err(|reason| failed(&r.plugin, reason)),
                        }
                    })
                })
                .and_then(|actions| self.apply_actions(&r, actions));
            if let Err(e) = outcome {
                let meta = Value::map()
                    .with("plugin", r.plugin.as_str())
                    .with("hook", "react")
                    .with("reason", e.to_string());
                let ctx = Context::system(r.thing.group).with_env(r.env);
                // If even this fails the store is failing; the commit it follows stands.
                let _ = self.write(&ctx, |tx| {
                    tx.log(
                        kinds::PLUGIN_FAILED,
                        r.thing.group,
                        Some(Ref::from(r.thing.id)),
                        meta.clone(),
                    )
                    .map(drop)
                });
            }
        }
    }

    pub(crate) fn apply_actions(&self, r: &Reaction, actions: Vec<Action>) -> Result<()> {
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > MAX_ACTIONS {
            return Err(failed(
                &r.plugin,
                format!(
                    "asked for {} actions, at most {MAX_ACTIONS} are allowed",
                    actions.len()
                ),
            ));
        }
        self.write(&r.principal(), |tx| {
            debug_assert_eq!(tx.scope.root, r.root);
            for action in actions.iter().cloned() {
                match action {
                    Action::LogEvent { kind, data } => {
                        let meta = Value::from(serde_json::Value::Object(data))
                            .with("plugin", r.plugin.as_str());
                        tx.log_custom_event(&kind, Some(Ref::from(r.thing.id)), meta)
                            .map_err(|e| refused_action(&r.plugin, &kind, e))?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// The failure of `plugin`'s asking to log `kind`, refused with `e`: what the plugin
/// asked wrongly is its failure, named for its author (a refusal by the policy names what
/// the tenant has not granted); anything else (the store failing) is the engine's, as is.
fn refused_action(plugin: &str, kind: &str, e: Error) -> Error {
    let needed = Permission::EventsWrite;
    let why = match e {
        Error::Forbidden { needed, .. } => {
            format!("asked to log `{kind}`, but its tenant has not granted it {needed}")
        }
        // A principal that holds nothing in the group meets it as unknown.
        Error::NotFound { .. } => format!(
            "asked to log `{kind}`, but its tenant has not granted it {needed} (it holds \
             nothing there, or it is no longer enabled)"
        ),
        Error::InvalidField { .. } | Error::MissingField { .. } | Error::TooLarge { .. } => {
            format!("asked to log `{kind}`: {e}")
        }
        e => return e,
    };
    failed(plugin, why)
}

impl Tx<'_, '_> {
    /// Makes sure the runtime has `plugin`'s module: a module can be missing if it failed
    /// to load when the engine opened (an error saying why), or if it was unloaded while
    /// another tenant installed it (loaded again here, from the stored code).
    pub(crate) fn ensure_loaded(&self, plugin: &TypePlugin) -> Result<&Arc<dyn PluginRuntime>> {
        let plugins = self.engine.part::<Plugins>();
        let runtime = plugins.runtime(&plugin.name)?;
        if let Some(reason) = plugins
            .broken
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&plugin.module)
        {
            return Err(failed(
                &plugin.name,
                format!("could not be loaded: {reason}"),
            ));
        }
        if plugins.recompiling.is_pending(&plugin.module) {
            return Err(failed(
                &plugin.name,
                "is compiling: its stored code was made by another version of the plugin \
                 runtime, and it is being compiled again; try again shortly",
            ));
        }
        if !runtime.is_loaded(&plugin.module) {
            let wasm = self
                .kv
                .get(&layout::plugin_module(&plugin.module))?
                .ok_or_else(|| Error::Corrupt {
                    what: "plugin module",
                    reason: format!("the module of plugin `{}` is missing", plugin.name),
                })?;
            let code = self.kv.get(&layout::plugin_code(&plugin.module))?;
            runtime
                .load(&plugin.module, &wasm, code.as_deref())
                .map_err(|reason| failed(&plugin.name, format!("could not be loaded: {reason}")))?;
        }
        Ok(runtime)
    }

    /// Has the plugin that defines `thing`'s type (if any) validate and normalise its
    /// properties, then checks them against the type's declared fields. `previous` is the
    /// stored version, for an update. Returns the plugin, for [`Tx::owe_reaction`].
    pub(crate) fn prepare_thing(
        &mut self,
        thing: &mut Thing,
        previous: Option<&Thing>,
    ) -> Result<Option<Arc<TypePlugin>>> {
        let Some(plugin) = self.declaring(Declared::Thing, &thing.kind)? else {
            return Ok(None);
        };
        let schema = plugin.manifest.types.iter().find(|t| t.name == thing.kind);
        for field in schema.iter().flat_map(|t| &t.fields).filter(|f| f.computed) {
            let before = previous.and_then(|p| p.properties.get_path(&field.name));
            if thing.properties.get_path(&field.name) != before {
                return Err(Error::invalid(
                    format!("properties.{}", field.name),
                    format!("is computed by plugin `{}`; it cannot be set", plugin.name),
                ));
            }
        }
        let input = PrepareInput {
            op: if previous.is_some() {
                Op::Update
            } else {
                Op::Create
            },
            id: thing.id.to_string(),
            group: thing.group.to_string(),
            kind: &thing.kind,
            name: &thing.name,
            properties: &thing.properties,
            previous: previous.map(|p| &p.properties),
        };
        let runtime = self.ensure_loaded(&plugin)?;
        let mut reads = Reads::new(self.view(), &plugin.name, thing.group);
        let answer = runtime.prepare(&plugin.module, &input, &mut reads);
        if let Some(e) = reads.failure {
            return Err(e);
        }
        let answer = answer.map_err(|reason| failed(&plugin.name, reason))?;
        let properties = match answer {
            Ok(p) => p,
            Err(rejection) => {
                let field = rejection
                    .field
                    .map_or_else(|| "properties".to_string(), |f| format!("properties.{f}"));
                return Err(Error::invalid(field, rejection.message));
            }
        };
        // The input passed these checks before the plugin saw it: a failure now is the
        // plugin's answer.
        let answered = validate::map_value("properties", properties).map_err(|e| {
            failed(
                &plugin.name,
                format!("answered properties that cannot be stored: {e}"),
            )
        })?;
        let sent = std::mem::replace(&mut thing.properties, answered);
        if let Some(schema) = schema {
            check_fields(&schema.fields, "properties", &thing.properties)
                .map_err(|e| blame(e, &sent, &thing.properties, &plugin.name))?;
        }
        Ok(Some(plugin))
    }

    /// Notes that `thing` changed, for `plugin` (the one of its type, if any) to hear
    /// after commit if it is enabled and reacts.
    pub(crate) fn owe_reaction(
        &mut self,
        thing: &Thing,
        event: &'static str,
        plugin: Option<Arc<TypePlugin>>,
    ) {
        let Some(plugin) = plugin else {
            return;
        };
        if plugin.enabled && plugin.manifest.reacts {
            self.locals.get::<Vec<Reaction>>().push(Reaction {
                root: self.scope.root,
                env: self.scope.ctx.env(),
                plugin: plugin.name.clone(),
                module: plugin.module,
                thing: thing.clone(),
                event,
            });
        }
    }
}

/// Whom a failed check of a plugin's answer against its type's fields is about: the
/// caller when the field is as the caller sent it, the plugin when it answered something
/// else there (a value it made, changed or dropped).
fn blame(e: Error, sent: &Value, answered: &Value, plugin: &str) -> Error {
    let Error::InvalidField { field, reason } = &e else {
        return e;
    };
    match field.strip_prefix("properties.") {
        Some(path) if sent.get_path(path) != answered.get_path(path) => failed(
            plugin,
            format!("answered `{field}`, which its own type refuses: {reason}"),
        ),
        _ => e,
    }
}
