//! Accounts as stored: the credentials several tenants' person records share, and the
//! link from each of those records to its account (`D a <account>`, `D e <email>`,
//! `T <root> <env> a <person>`; see `base/layout.rs`).
//!
//! How accounts are made, linked and used to sign in is in `identity/accounts.rs`.

use one_storage::KvRead;
use serde::{Deserialize, Serialize};

use crate::base::codec::Record;
use crate::base::context::Env;
use crate::base::id::{ConnectionId, GroupId, ThingId};
use crate::base::layout::{self, AccountKeys};
use crate::kernel::{Tx, View};
use crate::{Error, Result};

/// An account: the credentials several tenants' person records share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Account {
    /// The email, normalised; unique among accounts.
    pub(crate) email: String,
    /// Moves on every password change or reset: a session of a linked person carries the
    /// generation it was opened in and stops working when it moves.
    pub(crate) generation: u64,
    /// The one session a password change kept: (tenant, environment, session id).
    pub(crate) kept: Option<(GroupId, Env, ConnectionId)>,
}

impl Record for Account {
    const NAME: &'static str = "account";
    const VERSION: u8 = 1;
}

impl<K: KvRead> View<'_, K> {
    /// The account of a person of this tenant, if they have one.
    pub(crate) fn account_of(&self, person: ThingId) -> Result<Option<u128>> {
        self.kv
            .get(&self.scope.tenant.account_of(person))?
            .map(|b| layout::decode_account_id(&b, "account link"))
            .transpose()
    }

    /// The account record of `account`.
    pub(crate) fn account(&self, account: u128) -> Result<Account> {
        self.get_record(&AccountKeys::new(account).record())?
            .ok_or_else(|| Error::Corrupt {
                what: "account",
                reason: "a person is linked to an account that does not exist".into(),
            })
    }
}

impl Tx<'_, '_> {
    /// Unlinks a deleted person from their account; removes an account left with nobody.
    pub(crate) fn unlink_account(&mut self, person: ThingId) -> Result<()> {
        let Some(account) = self.view().account_of(person)? else {
            return Ok(());
        };
        let keys = AccountKeys::new(account);
        self.delete(&self.scope.tenant.account_of(person))?;
        self.delete(&keys.person_in(self.scope.root, self.scope.ctx.env()))?;
        let mut left = false;
        self.kv.scan(
            &one_storage::KeyRange::prefix(&keys.people()),
            one_storage::Direction::Forward,
            |_, _| {
                left = true;
                Ok::<_, Error>(std::ops::ControlFlow::Break(()))
            },
        )?;
        if !left {
            let record = self.view().account(account)?;
            let mut identities = Vec::new();
            self.kv.scan(
                &one_storage::KeyRange::prefix(&keys.identities()),
                one_storage::Direction::Forward,
                |k, _| {
                    identities.push(k.to_vec());
                    Ok::<_, Error>(std::ops::ControlFlow::Continue(()))
                },
            )?;
            for key in identities {
                let (provider, subject) = layout::decode_identity(&key, &keys.identities())?;
                self.delete(&layout::account_identity(&provider, &subject))?;
                self.delete(&key)?;
            }
            for key in [keys.password(), keys.two_factor(), keys.record()] {
                self.delete(&key)?;
            }
            self.delete(&layout::account_email(&record.email))?;
        }
        Ok(())
    }
}
