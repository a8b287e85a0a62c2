//! API keys: secrets that let a program act in one group with chosen permissions.
//!
//! A key's text (`ok_live_…` or `ok_test_…`, see [`crate::base::secret`]) is returned once, when
//! the key is made; the engine keeps its SHA-256 and its first twelve characters, for
//! display. A key acts in its group and the groups below it, in its environment: a test
//! key reads and writes the tenant's `test` copy (a separate key range, see
//! [`crate::Env`]), never live data. Its permissions are a subset of its creator's when
//! it is made, and are cut down to the creator's current ones at every check. It may expire
//! and may accept calls only from some address ranges (IPv4 and IPv6 CIDR).
//!
//! [`crate::Engine::check_api_key`] turns a presented key into a [`Context`], enforcing
//! the key's rate limits and its group's `api_calls` quota. Use counts (`last_used_at`,
//! `calls_this_month`) are kept in memory and written from time to time (see
//! [`crate::RateLimit`]): a crash loses at most the calls since the last write, and never
//! counts a call twice.

pub use one_vocabulary::records::key::{CreatedKey, NewApiKey};

use std::net::IpAddr;
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::codec;
use crate::base::context::{Context, Env};
use crate::base::id::{GroupId, KeyId, Ref};
use crate::base::layout::{self, SecretSection, StructureKeys};
use crate::base::permission::PermissionSet;
use crate::base::resource::Resource;
use crate::base::secret::Secret;
use crate::base::secret::{self, SecretDigest, SecretKind};
use crate::base::validate;
use crate::base::value::Value;
use crate::identity::credentials::{Credential, Credentials};
use crate::kernel::{Engine, Scope, Tx, View};
use crate::metering::rate_limit::{Gcra, KeyCall, key_quota};
use crate::records::event::kinds;
use crate::records::key::IpRange;
use crate::records::key::KeyStatus;
use crate::records::key::MAX_ALLOWED_RANGES;
use crate::records::key::{ApiKey, StoredKey};
use crate::{Error, Result};
impl<K: KvRead> View<'_, K> {
    /// The API keys of `group` (not of the groups below it), oldest first, without their
    /// secrets. Needs `keys:manage` there.
    pub fn api_keys(&self, group: GroupId) -> Result<Vec<ApiKey>> {
        self.authorize(Op::ManageKeys, group)?;
        let mut out = Vec::new();
        let prefix = self.scope.structure.api_keys();
        self.kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, v| {
                let StoredKey { key, .. } = codec::decode(v)?;
                if key.group == group {
                    out.push(
                        self.engine
                            .part::<crate::metering::rate_limit::Meters>()
                            .merged(self.scope.root, key),
                    );
                }
                Ok::<_, Error>(ControlFlow::Continue(()))
            })?;
        Ok(out)
    }

    /// The key `id`, if the context has `keys:manage` in its group and holds every
    /// permission the key gives there: nobody revokes or rotates a key that can do more
    /// than they can.
    fn managed_key(&self, id: KeyId) -> Result<StoredKey> {
        let key = self.load_api_key(id)?.ok_or_else(|| Error::not_found(id))?;
        self.authorize_record(Op::ManageKeys, key.group, Ref::from(id))?;
        self.ensure_holds(key.group, key.permissions)?;
        Ok(key)
    }
}

impl Tx<'_, '_> {
    /// Makes an API key. Needs `keys:manage` in the key's group, and every permission the
    /// key is given. Logs `api_key_created`. The secret is in the result and nowhere else.
    pub fn create_api_key(&mut self, new: NewApiKey) -> Result<CreatedKey> {
        let group = new.group.unwrap_or(self.scope.ctx.group());
        let name = validate::name("name", &new.name)?;
        let permissions = PermissionSet::parse(&new.permissions)?;
        if new.allowed_ips.len() > MAX_ALLOWED_RANGES {
            return Err(Error::invalid(
                "allowed_ips",
                format!("at most {MAX_ALLOWED_RANGES} ranges"),
            ));
        }
        let allowed_ips = new
            .allowed_ips
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<IpRange>>>()?;
        if let Some(rate) = new.rate {
            Gcra::new(rate)?;
        }
        self.ensure_writable(group, Op::CreateKey)?;
        let created_by = self.scope.ctx.principal();
        self.view().ensure_holds(group, permissions)?;
        let now = self.now();
        let key = ApiKey {
            id: KeyId::from_u128(self.engine.next_id()),
            group,
            env: new.env,
            name,
            prefix: String::new(),
            permissions,
            expires_at: new.expires_at,
            allowed_ips,
            status: KeyStatus::Active,
            created_by,
            created_in: self.scope.ctx.env(),
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            calls_this_month: 0,
            monthly_calls: new.monthly_calls,
            rate: new.rate,
        };
        let created = self.store_new_secret(key)?;
        self.log(
            kinds::API_KEY_CREATED,
            group,
            Some(Ref::from(created.key.id)),
            key_metadata(&created.key),
        )?;
        Ok(created)
    }

    /// Gives `key` a fresh secret and stores it with its directory entry.
    fn store_new_secret(&mut self, mut key: ApiKey) -> Result<CreatedKey> {
        let kind = match key.env {
            Env::Live => SecretKind::LiveKey,
            Env::Test => SecretKind::TestKey,
        };
        let text = secret::generate(kind)?;
        key.prefix = secret::display_prefix(&text);
        let stored = StoredKey {
            key,
            digest: secret::digest(&text),
        };
        self.put(
            layout::secret_digest(SecretSection::ApiKey, &stored.digest),
            layout::key_locator(self.scope.root, stored.key.id),
        )?;
        self.put_record(&self.scope.structure.api_key(stored.key.id), &stored)?;
        Ok(CreatedKey {
            key: stored.key,
            secret: Secret(text),
        })
    }

    /// Revokes a key: every later call with it is [`Error::Revoked`], in any thread.
    /// Needs `keys:manage` in its group. Logs `api_key_revoked`.
    pub fn revoke_api_key(&mut self, id: KeyId) -> Result<ApiKey> {
        let mut stored = self.view().managed_key(id)?;
        if !stored.is_active() {
            return Err(Error::Revoked);
        }
        stored.key.status = KeyStatus::Revoked;
        stored.key.revoked_at = Some(self.now());
        self.put_record(&self.scope.structure.api_key(id), &stored)?;
        let key = stored.key;
        self.access_changed();
        self.log(
            kinds::API_KEY_REVOKED,
            key.group,
            Some(Ref::from(id)),
            key_metadata(&key),
        )?;
        Ok(key)
    }

    /// Replaces a key by a new one with a new secret and the same settings, and revokes the
    /// old one. Needs `keys:manage` in its group. Logs `api_key_rotated` on the new key.
    pub fn rotate_api_key(&mut self, id: KeyId) -> Result<CreatedKey> {
        let old = self.revoke_api_key(id)?;
        let now = self.now();
        let fresh = ApiKey {
            id: KeyId::from_u128(self.engine.next_id()),
            status: KeyStatus::Active,
            created_by: self.scope.ctx.principal(),
            created_in: self.scope.ctx.env(),
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            calls_this_month: 0,
            ..old.clone()
        };
        self.view().ensure_holds(fresh.group, fresh.permissions)?;
        let created = self.store_new_secret(fresh)?;
        self.log(
            kinds::API_KEY_ROTATED,
            old.group,
            Some(Ref::from(created.key.id)),
            key_metadata(&created.key).with("replaces", old.id.to_string()),
        )?;
        Ok(created)
    }
}

fn key_metadata(key: &ApiKey) -> Value {
    Value::map()
        .with("name", key.name.as_str())
        .with("prefix", key.prefix.as_str())
        .with("env", if key.env == Env::Live { "live" } else { "test" })
        .with("permissions", key.permissions.names())
}

impl Engine {
    /// The context of a presented API key, calling from `client_ip` (`None` when
    /// unknown): [`Engine::check_api_key`] without the rate-limit figures.
    pub fn context_for_api_key(&self, key: &str, client_ip: Option<IpAddr>) -> Result<Context> {
        self.check_api_key(key, client_ip).map(|call| call.context)
    }

    /// Admits one call with a presented API key from `client_ip` (`None` when unknown):
    /// the context it acts as, and what its rate limits leave (for `X-RateLimit-*`
    /// headers). A malformed, mistyped or unknown key is [`Error::InvalidCredentials`] (a
    /// mistyped one is caught by its checksum without reading the database); a revoked key
    /// is [`Error::Revoked`], an expired one [`Error::Expired`], a call from outside its
    /// allow-list [`Error::IpNotAllowed`], one over its monthly quota or burst
    /// [`Error::RateLimited`], and one over the `api_calls` limit of its group's plan
    /// [`Error::QuotaExceeded`]. An admitted call is counted (in memory; see
    /// [`crate::RateLimit`]).
    pub fn check_api_key(&self, key: &str, client_ip: Option<IpAddr>) -> Result<KeyCall> {
        let (kind, digest) = secret::parse(key)?;
        if !matches!(kind, SecretKind::LiveKey | SecretKind::TestKey) {
            return Err(Error::InvalidCredentials);
        }
        let found = match self.part::<Credentials>().get(&digest) {
            Some(c) => c,
            None => self.load_key_credential(&digest)?,
        };
        let now = self.clock().now();
        if found.expires_at.is_some_and(|t| now >= t) {
            return Err(Error::Expired);
        }
        if !found.allowed_ips.is_empty()
            && !client_ip.is_some_and(|ip| found.allowed_ips.iter().any(|r| r.contains(ip)))
        {
            return Err(Error::IpNotAllowed {
                ip: client_ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            });
        }
        let Some(quota) = &found.quota else {
            return Err(Error::InvalidCredentials);
        };
        let rate_limit = self.admit_call(&found.ctx, quota)?;
        Ok(KeyCall {
            context: found.ctx,
            rate_limit,
        })
    }

    /// Reads the key with this digest from the store, refuses it if revoked, and caches
    /// what every later call needs.
    fn load_key_credential(&self, digest: &SecretDigest) -> Result<Credential> {
        let epoch = self.part::<Credentials>().epoch();
        let kv = self.store().read()?;
        let found = kv
            .get(&layout::secret_digest(SecretSection::ApiKey, digest))?
            .ok_or(Error::InvalidCredentials)?;
        let (root, id) = layout::decode_key_locator(&found)?;
        let record: StoredKey = kv
            .get(&StructureKeys::new(root).api_key(id))?
            .map(|b| codec::decode(&b))
            .transpose()?
            .ok_or(Error::InvalidCredentials)?;
        if !secret::constant_time_eq(&record.digest, digest) {
            return Err(Error::InvalidCredentials);
        }
        if !record.is_active() {
            return Err(Error::Revoked);
        }
        let ctx = Context::api_key(id, record.group, record.env);
        let scope = Scope::new(Context::system(record.group).with_env(record.env), root);
        let view = View {
            kv: &*kv,
            scope: &scope,
            engine: self,
        };
        let chain = view.limit_chain(record.group, Resource::ApiCalls)?;
        let quota = key_quota(&record, root, chain)?;
        let credential = Credential {
            ctx,
            expires_at: record.expires_at,
            allowed_ips: record.allowed_ips.clone().into(),
            quota: Some(quota),
        };
        self.part::<Credentials>()
            .insert(*digest, credential.clone(), epoch);
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ip_ranges_match_v4_and_v6() {
        let r: IpRange = "10.1.0.0/16".parse().unwrap();
        assert!(r.contains(ip("10.1.200.3")));
        assert!(!r.contains(ip("10.2.0.1")));
        assert!(r.contains(ip("::ffff:10.1.0.9")));
        let one: IpRange = "192.168.1.7".parse().unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")) && !v6.contains(ip("10.0.0.1")));
        let any6: IpRange = "::/0".parse().unwrap();
        assert!(any6.contains(ip("fe80::1")));
    }

    #[test]
    fn bad_ranges_are_refused_by_name() {
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "host", "1.2.3.4/x"] {
            let err = bad.parse::<IpRange>().unwrap_err();
            assert!(err.to_string().contains("allowed_ips"), "{bad}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret("ok_live_abc".into());
        assert!(!format!("{s:?}").contains("abc"));
    }
}
