//! Executing the vocabulary: one [`Request`] at a time, or a batch of them in one write
//! transaction.
//!
//! Every request is dispatched to the typed method that implements it; nothing here
//! decides anything on its own but where a request runs ([`Request::runs_in`]) and that
//! platform operations need the `system` principal (through the policy point). A batch
//! runs its steps in one write transaction, all or nothing, and a step may name the id a
//! previous step returned with `{"$ref": n}`.

use one_storage::KvRead;
use one_vocabulary::decode::{Undecodable, from_json_value};
use one_vocabulary::request::{Request, RunsIn};
use one_vocabulary::response::{Failure, Response};

use crate::base::context::Context;
use crate::base::id::Ref;
use crate::kernel::{Engine, Tx, View};
use crate::{Error, Result};

/// The most steps one batch may hold.
pub const MAX_BATCH_STEPS: usize = 1000;

/// The most changes one poll of the feed returns.
const MAX_CHANGES: usize = one_vocabulary::page::MAX_PAGE;

impl Engine {
    /// Executes `request` as `ctx`, through the same typed method a Rust caller would
    /// use. Reads run on one snapshot, writes in one transaction with their event.
    pub fn execute(&self, ctx: &Context, request: Request) -> Result<Response> {
        if request.platform() {
            crate::access::policy::authorize_platform(ctx, request.name())?;
        }
        match request.runs_in() {
            RunsIn::Read => self.read(ctx, |v| read(v, request)),
            RunsIn::Write => {
                let mut request = self.consumed(request);
                self.write(ctx, |tx| write(tx, request.take()?))
            }
            RunsIn::Engine => self.on_engine(ctx, request),
        }
    }

    /// Executes the steps of a batch as `ctx` in one write transaction: all of them
    /// commit, or none does. Each step is a request in its JSON form, in which any
    /// `{"$ref": n}` stands for the id of the record step `n` (an earlier one) returned.
    /// Only reads and writes may be steps; a step that runs on the engine as a whole
    /// (sign-in, plugins, maintenance) is refused before anything runs. A failure names
    /// its step.
    pub fn execute_batch(
        &self,
        ctx: &Context,
        steps: &[serde_json::Value],
    ) -> std::result::Result<Vec<Response>, Failure> {
        let at = |step: usize| {
            move |e: Error| {
                let mut f = Failure::from(&e);
                f.step = u32::try_from(step).ok();
                f
            }
        };
        if steps.len() > MAX_BATCH_STEPS {
            return Err(Failure::from(&Error::TooLarge {
                field: "steps",
                limit: MAX_BATCH_STEPS,
                actual: steps.len(),
            }));
        }
        // Every step that does not refer to an earlier one is checked before anything runs.
        for (i, step) in steps.iter().enumerate() {
            if !has_ref(step) {
                batchable(decode(step, i)?).map_err(at(i))?;
            }
        }
        self.write_with(ctx, |tx| {
            let mut done: Vec<Response> = Vec::with_capacity(steps.len());
            for (i, step) in steps.iter().enumerate() {
                let resolved = resolve(step, &done).map_err(at(i))?;
                let request = batchable(decode(&resolved, i)?).map_err(at(i))?;
                done.push(write(tx, request).map_err(at(i))?);
            }
            Ok(done)
        })
    }

    /// The requests that run on the engine as a whole.
    fn on_engine(&self, ctx: &Context, request: Request) -> Result<Response> {
        let admin = self.admin();
        Ok(match request {
            Request::Can { permission, group } => {
                Response::Allowed(self.can(ctx, permission, group))
            }
            Request::CheckApiKey { key, client_ip } => {
                Response::KeyCall(self.check_api_key(&key, client_ip)?)
            }
            Request::SignUp {
                group,
                email,
                password,
                name,
            } => Response::SignedUp(self.sign_up(ctx, group, &email, &password, &name)?),
            Request::SignIn {
                group,
                email,
                password,
            } => Response::SignedIn(self.sign_in(ctx, group, &email, &password)?),
            Request::SignInExternal {
                group,
                provider,
                subject,
            } => Response::SignedIn(self.sign_in_external(ctx, group, &provider, &subject)?),
            Request::MagicLink { group, email } => {
                Response::Secret(self.magic_link(ctx, group, &email)?)
            }
            Request::SignInWithMagicLink { token } => {
                Response::SignedIn(self.sign_in_with_magic_link(&token)?)
            }
            Request::EmailVerification { person } => {
                Response::Secret(self.email_verification(ctx, person)?)
            }
            Request::VerifyEmail { token } => Response::ThingId(self.verify_email(&token)?),
            Request::SessionContext { token } => {
                Response::Context(self.context_for_session(&token)?)
            }
            Request::SignOut { token } => {
                self.sign_out(&token)?;
                Response::Done
            }
            Request::PasswordReset { group, email } => {
                Response::ResetToken(self.password_reset(ctx, group, &email)?)
            }
            Request::ResetPassword { token, password } => {
                Response::ThingId(self.reset_password(&token, &password)?)
            }
            Request::ChangePassword {
                session,
                current_password,
                new_password,
            } => {
                self.change_password(&session, &current_password, &new_password)?;
                Response::Done
            }
            Request::CompleteSignIn { token, code } => {
                Response::Session(self.complete_sign_in(&token, &code)?)
            }
            Request::EnrollTwoFactor { token } => {
                Response::TwoFactorEnrollment(self.enroll_two_factor(&token)?)
            }
            Request::ConfirmTwoFactor { token, code } => {
                Response::TwoFactorEnabled(self.confirm_two_factor(&token, &code)?)
            }
            Request::DisableTwoFactor { session, code } => {
                self.disable_two_factor(&session, &code)?;
                Response::Done
            }
            Request::SwitchTenant { session, group } => {
                Response::SignedIn(self.switch_tenant(&session, group)?)
            }
            Request::InstallPlugin { wasm } => Response::Plugin(self.install_plugin(ctx, &wasm)?),
            Request::UpgradePlugin { wasm } => Response::Plugin(self.upgrade_plugin(ctx, &wasm)?),
            Request::SetPluginEnabled { name, enabled } => {
                Response::Plugin(self.set_plugin_enabled(ctx, &name, enabled)?)
            }
            Request::GrantPlugin { name, permissions } => {
                let permissions: Vec<&str> = permissions.iter().map(String::as_str).collect();
                Response::Plugin(self.grant_plugin(ctx, &name, &permissions)?)
            }
            Request::UninstallPlugin { name } => {
                self.uninstall_plugin(ctx, &name)?;
                Response::Done
            }
            Request::Changes {
                filter,
                after,
                limit,
            } => {
                let limit = limit.unwrap_or(one_vocabulary::page::DEFAULT_PAGE);
                if !(1..=MAX_CHANGES).contains(&limit) {
                    return Err(Error::invalid(
                        "limit",
                        format!("{limit} is outside 1..={MAX_CHANGES}"),
                    ));
                }
                let mut sub = self.subscribe_from(ctx, filter, after)?;
                let mut events = Vec::new();
                while events.len() < limit {
                    match sub.try_next(self)? {
                        Some(e) => events.push(e),
                        None => break,
                    }
                }
                let cursor = sub.cursor().or(after);
                Response::Changes { events, cursor }
            }
            Request::Export { group } => {
                let mut out = Vec::new();
                let report = self.export(ctx, group, &mut out)?;
                let text = String::from_utf8(out).map_err(|e| Error::Corrupt {
                    what: "export",
                    reason: e.to_string(),
                })?;
                Response::Export { text, report }
            }
            Request::CreateTenant(new) => Response::Group(admin.create_root_group(new)?),
            Request::Tenants => Response::Groups(admin.root_groups()?),
            Request::TenantBySlug { slug } => Response::Tenant(admin.tenant_by_slug(&slug)?),
            Request::TenantByDomain { domain } => {
                Response::Tenant(admin.tenant_by_domain(&domain)?)
            }
            Request::CreateIndex { kind, path } => {
                Response::Index(admin.create_index(&kind, &path)?)
            }
            Request::DropIndex { kind, path } => Response::Removed(admin.drop_index(&kind, &path)?),
            Request::Indexes => Response::Indexes(admin.indexes()?),
            Request::CreateTextIndex { kind, path } => {
                Response::Index(admin.create_text_index(&kind, &path)?)
            }
            Request::DropTextIndex { kind, path } => {
                Response::Removed(admin.drop_text_index(&kind, &path)?)
            }
            Request::TextIndexes => Response::Indexes(admin.text_indexes()?),
            Request::Stats => Response::Stats(admin.stats()?),
            Request::Check => Response::CheckReport(self.check()?),
            Request::RecountUsage => {
                admin.recount_usage()?;
                Response::Done
            }
            Request::CompactKnowledge => Response::CompactReport(admin.compact_knowledge()?),
            Request::FlushMeters => {
                self.flush_meters()?;
                Response::Done
            }
            Request::Import { text, into } => {
                Response::PortableReport(admin.import(text.as_bytes(), into)?)
            }
            other => return Err(misplaced(&other)),
        })
    }
}

/// Executes a read request on `v`.
fn read<K: KvRead>(v: &View<'_, K>, request: Request) -> Result<Response> {
    Ok(match request {
        Request::GetGroup { id } => Response::Group(v.get_group(id)?),
        Request::Children {
            group,
            limit,
            after,
        } => Response::GroupPage(v.children(group, limit, after.as_ref())?),
        Request::Subtree { group } => Response::Groups(v.subtree(group)?),
        Request::GetThing { id } => Response::Thing(v.get_thing(id)?),
        Request::Things(query) => Response::ThingPage(v.things(&query)?),
        Request::SearchThings(query) => Response::ThingHits(v.search_things(&query)?),
        Request::GetConnection { id } => Response::Connection(v.get_connection(id)?),
        Request::Connections(query) => Response::ConnectionPage(v.connections(&query)?),
        Request::GroupConnections(query) => Response::ConnectionPage(v.group_connections(&query)?),
        Request::PersonByEmail { email } => Response::Thing(v.person_by_email(&email)?),
        Request::Members {
            group,
            limit,
            after,
        } => Response::ConnectionPage(v.members(group, limit, after.as_ref())?),
        Request::Memberships { person } => Response::Connections(v.memberships(person)?),
        Request::PermissionsIn { group } => Response::Permissions(v.permissions_in(group)?),
        Request::Events(query) => Response::EventPage(v.events(&query)?),
        Request::ApiKeys { group } => Response::ApiKeys(v.api_keys(group)?),
        Request::Usage { group } => Response::Usage(v.usage(group)?),
        Request::RevenueShare { group } => Response::Bps(v.revenue_share(group)?),
        Request::RevenueChain { group, total } => {
            Response::RevenueChain(v.revenue_chain(group, total)?)
        }
        Request::Revenue {
            group,
            currency,
            from,
            until,
        } => Response::RevenueReport(v.revenue(group, &currency, from, until)?),
        Request::GetKnowledge { id } => Response::Knowledge(v.get_knowledge(id)?),
        Request::QueryKnowledge(query) => Response::Hits(v.query_knowledge(&query)?),
        Request::KnowledgeIndex { group } => Response::IndexInfo(v.knowledge_index(group)?),
        Request::Plugins => Response::Plugins(v.plugins()?),
        Request::ThingTypes => Response::ThingTypes(v.thing_types()?),
        Request::Counts { group } => Response::Counts(v.counts(group)?),
        other => return Err(misplaced(&other)),
    })
}

/// Executes a read or write request in `tx`.
fn write(tx: &mut Tx<'_, '_>, request: Request) -> Result<Response> {
    Ok(match request {
        Request::CreateGroup { parent, group } => Response::Group(tx.create_group(parent, group)?),
        Request::UpdateGroup { id, update } => Response::Group(tx.update_group(id, update)?),
        Request::ArchiveGroup { id } => Response::Group(tx.archive_group(id)?),
        Request::CreateThing(new) => Response::Thing(tx.create_thing(new)?),
        Request::UpdateThing { id, update } => Response::Thing(tx.update_thing(id, update)?),
        Request::DeleteThing { id } => Response::Thing(tx.delete_thing(id)?),
        Request::Connect(new) => Response::Connection(tx.connect(new)?),
        Request::Disconnect { id } => Response::Connection(tx.disconnect(id)?),
        Request::UpdateConnection { id, metadata } => {
            Response::Connection(tx.update_connection(id, metadata)?)
        }
        Request::CreatePerson(new) => Response::Thing(tx.create_person(new)?),
        Request::AddMember {
            person,
            group,
            role,
            permissions,
        } => Response::Connection(tx.add_member(person, group, &role, &strs(&permissions))?),
        Request::InviteMember {
            person,
            group,
            role,
            permissions,
        } => Response::Connection(tx.invite_member(person, group, &role, &strs(&permissions))?),
        Request::AcceptInvitation { person, group } => {
            Response::Connection(tx.accept_invitation(person, group)?)
        }
        Request::ChangeRole {
            person,
            group,
            role,
            permissions,
        } => Response::Connection(tx.change_role(person, group, &role, &strs(&permissions))?),
        Request::RemoveMember { person, group } => {
            Response::Connection(tx.remove_member(person, group)?)
        }
        Request::LogEvent(event) => {
            Response::Event(tx.log_event(&event.kind, event.target, event.metadata)?)
        }
        Request::CreateApiKey(new) => Response::CreatedKey(tx.create_api_key(new)?),
        Request::RevokeApiKey { id } => Response::ApiKey(tx.revoke_api_key(id)?),
        Request::RotateApiKey { id } => Response::CreatedKey(tx.rotate_api_key(id)?),
        Request::LinkIdentity {
            person,
            provider,
            subject,
        } => {
            tx.link_identity(person, &provider, &subject)?;
            Response::Done
        }
        Request::SignOutEverywhere { person } => {
            Response::Count(tx.sign_out_everywhere(person)? as u64)
        }
        Request::ResetTwoFactor { person } => Response::Removed(tx.reset_two_factor(person)?),
        Request::RecordUsage { resource, amount } => {
            tx.record_usage(resource, amount)?;
            Response::Done
        }
        Request::RecordCycle {
            stage,
            model,
            tokens,
            price,
        } => Response::Event(tx.record_cycle(stage, &model, tokens, price)?),
        Request::RecordRevenue { group, total } => {
            Response::RevenueSplit(tx.record_revenue(group, total)?)
        }
        Request::RecordPayment { group, payment } => {
            Response::Event(tx.record_payment(group, payment)?)
        }
        Request::DistributeRevenueShare {
            group,
            amount,
            rail,
            reference,
        } => Response::Event(tx.distribute_revenue_share(group, amount, rail, &reference)?),
        Request::CreateKnowledge(new) => Response::Knowledge(tx.create_knowledge(new)?),
        Request::SetKnowledgeLabels { id, labels } => {
            Response::Knowledge(tx.set_knowledge_labels(id, &labels)?)
        }
        Request::DeleteKnowledge { id } => Response::Knowledge(tx.delete_knowledge(id)?),
        read_only if read_only.runs_in() == RunsIn::Read => read(&tx.view(), read_only)?,
        other => return Err(misplaced(&other)),
    })
}

fn strs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

/// A request that reached the wrong executor: a bug in the table of `Request::runs_in`.
fn misplaced(request: &Request) -> Error {
    Error::Internal {
        reason: format!("`{}` reached the wrong executor", request.name()),
    }
}

/// `request` if it can be a step of a batch.
fn batchable(request: Request) -> Result<Request> {
    match request.runs_in() {
        RunsIn::Read | RunsIn::Write => Ok(request),
        RunsIn::Engine => Err(Error::invalid(
            "steps",
            format!(
                "`{}` runs on the engine as a whole and cannot be a step of a batch",
                request.name()
            ),
        )),
    }
}

/// Step `step`'s request from its JSON form: a value that does not parse keeps its typed
/// error; a step of the wrong shape is [`Error::InvalidField`] naming `request`.
fn decode(json: &serde_json::Value, step: usize) -> std::result::Result<Request, Failure> {
    from_json_value(json.clone()).map_err(|e| {
        let error = match e {
            Undecodable::Value(error) => error,
            Undecodable::Shape(reason) => Error::invalid("request", reason),
        };
        let mut f = Failure::from(&error);
        f.step = u32::try_from(step).ok();
        f
    })
}

/// Whether `json` holds a `{"$ref": …}` anywhere.
fn has_ref(json: &serde_json::Value) -> bool {
    match json {
        serde_json::Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
        serde_json::Value::Array(items) => items.iter().any(has_ref),
        _ => false,
    }
}

/// `json` with every `{"$ref": n}` replaced by the text of the id step `n` returned.
fn resolve(json: &serde_json::Value, done: &[Response]) -> Result<serde_json::Value> {
    Ok(match json {
        serde_json::Value::Object(m) if m.contains_key("$ref") => {
            let bad = |reason: String| Error::invalid("$ref", reason);
            if m.len() != 1 {
                return Err(bad("`{\"$ref\": n}` holds nothing else".into()));
            }
            let n = m["$ref"]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(format!("{} is not a step number", m["$ref"])))?;
            let earlier = done
                .get(n)
                .ok_or_else(|| bad(format!("step {n} is not an earlier step")))?;
            let id: Ref = earlier.id().ok_or_else(|| {
                bad(format!(
                    "step {n} returned `{}`, which is not one record",
                    earlier.shape()
                ))
            })?;
            serde_json::Value::String(id.to_string())
        }
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, done)?)))
                .collect::<Result<_>>()?,
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|v| resolve(v, done))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}
