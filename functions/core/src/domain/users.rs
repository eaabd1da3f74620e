//! User records: `user:<id>` (JSON) and the case-insensitive username index
//! `username:<lowercase>` → id.

use crate::domain::hashing;
use crate::domain::methods::MethodId;
use crate::domain::phone::Phone;
use crate::domain::policy::{Policy, SsprScope};
pub use crate::domain::questions::SecurityAnswer;
use crate::domain::username;
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::store::Store;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// Where codes can go. Each optional; a method is offered only when its contact exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Contacts {
    pub authentication_phone: Option<Phone>,
    pub mobile_phone: Option<Phone>,
    pub office_phone: Option<Phone>,
    pub alternate_email: Option<String>,
    pub authentication_email: Option<String>,
}

impl Contacts {
    /// The emails the "email" method may send to, alternate first.
    pub fn emails(&self) -> Vec<&str> {
        [&self.alternate_email, &self.authentication_email].into_iter().flatten().map(String::as_str).collect()
    }

    /// The phones the mobile methods may use, mobile first.
    pub fn mobiles(&self) -> Vec<&Phone> {
        [&self.mobile_phone, &self.authentication_phone].into_iter().flatten().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// The account id typed at "Who are you?"; looked up case-insensitively.
    pub username: String,
    pub display_name: String,
    #[serde(default)]
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
    #[serde(default)]
    pub contacts: Contacts,
    #[serde(default)]
    pub security_answers: Vec<SecurityAnswer>,
    /// Enabled for self-service reset (used when the policy scope is `selected`).
    pub sspr_enabled: bool,
    /// False for federated / externally managed passwords: Entra's guide's "contact your admin".
    pub password_managed_here: bool,
    #[serde(default)]
    pub locked: bool,
    /// When a lockout ends by itself; `None` with `locked` = until unlocked.
    #[serde(default)]
    pub locked_until: Option<u64>,
    #[serde(default)]
    pub failed_signins: u32,
    /// The lockout window failed sign-ins count in (`signin-failures:<id>:<epoch>`):
    /// moved on, once, by each lock, unlock and successful sign-in after failures,
    /// so a lock that ends by itself needs no clearing.
    #[serde(default)]
    pub lock_epoch: u64,
    /// Its place in the append-only user index (`user-index:<n>`); 0 for a
    /// user made before the index existed (`POST /api/admin/maintenance/reindex`).
    #[serde(default)]
    pub index: u64,
    #[serde(default)]
    pub registered_at: Option<u64>,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub password_changed_at: u64,
    /// The handles of the last reset and unlock flows that finished on this
    /// account: the compare-and-swap that makes a flow's change records it,
    /// so each flow finishes once ([`finish_flow`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finished_flows: Vec<String>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The record without any hash, for admin views and logs.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("password_hash");
            o.remove("finished_flows");
        }
        if let Some(answers) = v.get_mut("security_answers").and_then(|a| a.as_array_mut()) {
            for a in answers {
                if let Some(o) = a.as_object_mut() {
                    o.remove("answer_hash");
                }
            }
        }
        v
    }

    pub fn is_locked(&self, now: u64) -> bool {
        self.locked && self.locked_until.is_none_or(|until| now < until)
    }

    /// Whether self-service may act for this user at all, as "Who are you?"
    /// rules and the last step of a reset or unlock re-checks: the password is
    /// managed here (else `contact_admin`) and the policy enables the user
    /// (else `not_enabled`).
    pub fn self_service_allowed(&self, policy: &Policy) -> Result<()> {
        if !self.password_managed_here {
            return Err(ApiError::contact_admin());
        }
        if !self.sspr_allowed(policy) {
            return Err(ApiError::not_enabled());
        }
        Ok(())
    }

    /// Whether the policy lets this user reset at all.
    pub fn sspr_allowed(&self, policy: &Policy) -> bool {
        match policy.sspr_enabled {
            SsprScope::All => true,
            SsprScope::Selected => self.sspr_enabled,
            SsprScope::None => false,
        }
    }

    /// Admins always need two gates, whatever the policy says (as in Entra).
    pub fn gates_required(&self, policy: &Policy) -> u8 {
        if self.is_admin() { 2 } else { policy.gates_required.clamp(1, 2) }
    }

    /// Methods this user can prove with under the policy, in Entra's guide's order.
    pub fn available_methods(&self, policy: &Policy) -> Vec<MethodId> {
        MethodId::ALL
            .into_iter()
            .filter(|m| policy.methods_allowed.contains(m))
            .filter(|m| match m {
                MethodId::Email => !self.contacts.emails().is_empty(),
                MethodId::MobileText | MethodId::MobileCall => !self.contacts.mobiles().is_empty(),
                MethodId::OfficeCall => self.contacts.office_phone.is_some(),
                // Admins may not use questions; others need enough answers registered.
                MethodId::Questions => {
                    !self.is_admin() && self.security_answers.len() >= policy.questions_to_reset as usize
                }
            })
            .collect()
    }
}

/// What an administrator or a test gives to create a user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
    pub contacts: Contacts,
    /// Question id, question text, plain answer (hashed here).
    pub security_answers: Vec<NewAnswer>,
    pub sspr_enabled: Option<bool>,
    pub password_managed_here: Option<bool>,
    pub locked: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewAnswer {
    pub question_id: String,
    pub question: String,
    pub answer: String,
}

fn user_key(id: &str) -> String {
    keys::user(id)
}

/// The index key of a username (its `domain::username::key` form); a name that
/// the rule refuses has none, so it can be neither created nor found.
fn name_key(username: &str) -> Option<String> {
    username::key(username).map(|k| keys::username(&k))
}

fn name_claim_key(username: &str) -> Option<String> {
    username::key(username).map(|k| keys::username_claim(&k))
}

fn invalid_username() -> ApiError {
    ApiError::bad_request(
        "A username is 1 to 256 characters without spaces, control or invisible characters, in one script.",
    )
}

/// The atomic counter of failed sign-ins that the sign-in step bumps, in one
/// lockout window (`User::lock_epoch`).
pub fn signin_failures_key(user_id: &str, epoch: u64) -> String {
    keys::signin_failures(user_id, epoch)
}

/// Creates a user; the username must be free (case-insensitively).
pub fn create(ctx: &Ctx, new: NewUser) -> Result<User> {
    let username = username::canonical(&new.username).ok_or_else(invalid_username)?;
    if new.password.is_empty() {
        return Err(ApiError::bad_request("An initial password is required."));
    }
    let claim = name_claim_key(&username).ok_or_else(invalid_username)?;
    if !Counter::new(ctx.store, claim).claim()? {
        return Err(ApiError::new(ErrorCode::UsernameTaken, "A user with this username already exists."));
    }
    let now = ctx.now();
    let mut security_answers = Vec::with_capacity(new.security_answers.len());
    for a in &new.security_answers {
        security_answers.push(SecurityAnswer {
            question_id: a.question_id.clone(),
            question: a.question.clone(),
            answer_hash: hashing::hash(ctx.random, &crate::domain::questions::normalise(&a.answer))?,
        });
    }
    let user = User {
        id: kv::random_hex(ctx.random, 16),
        display_name: if new.display_name.trim().is_empty() {
            username.clone()
        } else {
            new.display_name.trim().to_owned()
        },
        username,
        role: new.role,
        password_hash: hashing::hash(ctx.random, &new.password)?,
        contacts: new.contacts,
        registered_at: (!security_answers.is_empty()).then_some(now),
        security_answers,
        sspr_enabled: new.sspr_enabled.unwrap_or(true),
        password_managed_here: new.password_managed_here.unwrap_or(true),
        locked: new.locked,
        locked_until: None,
        failed_signins: 0,
        lock_epoch: 0,
        index: 0,
        created_at: now,
        password_changed_at: now,
        finished_flows: Vec::new(),
    };
    let mut user = user;
    // The index slot first: a user record never exists without its place in the pager.
    user.index = Counter::new(ctx.store, keys::USER_INDEX_SEQ).add(1)? as u64;
    ctx.store.set(&keys::user_index(user.index), user.id.as_bytes())?;
    kv::put_json(ctx.store, &user_key(&user.id), &user)?;
    ctx.store.set(&name_key(&user.username).ok_or_else(invalid_username)?, user.id.as_bytes())?;
    if user.is_admin() {
        set_admin(ctx.store, &user.id, true)?;
    }
    Ok(user)
}

pub fn get(store: &dyn Store, id: &str) -> Result<Option<User>> {
    kv::get_json(store, &user_key(id))
}

/// Looks a user up by username, ignoring case and surrounding spaces.
pub fn find_by_username(store: &dyn Store, username: &str) -> Result<Option<User>> {
    // A name the rule refuses names nobody: the same answer as an unknown one.
    let Some(key) = name_key(username) else { return Ok(None) };
    match store.get(&key)? {
        None => Ok(None),
        Some(id) => get(store, &String::from_utf8_lossy(&id)),
    }
}

/// Applies `change` to the stored user with compare-and-swap, retrying when a
/// concurrent writer got there first, so no update is lost.
pub fn update(store: &dyn Store, id: &str, change: impl Fn(&mut User)) -> Result<User> {
    let key = user_key(id);
    for _ in 0..32 {
        let Some((mut user, raw)) = kv::get_json_raw::<User>(store, &key)? else {
            return Err(ApiError::new(ErrorCode::UserNotFound, "No such user."));
        };
        let was_admin = user.is_admin();
        change(&mut user);
        user.id = id.to_owned();
        // CAS over the bytes just read. Lost (another update landed first): read
        // again and re-apply `change` to the new record. Misreported (Spin's
        // Redis store says `cas-failed` after writing): the re-read in
        // `swap_json_checked` finds this write's unique id, so it is not applied twice.
        if kv::swap_json_checked(store, &key, &raw, &user, &crate::platform::clock::OsRandom)?.is_some() {
            // A role change moves the user in or out of the admins record.
            if user.is_admin() != was_admin {
                set_admin(store, id, user.is_admin())?;
            }
            return Ok(user);
        }
    }
    Err(ApiError::unavailable("The account is being changed by another request; please try again."))
}

/// Like [`update`], but `change` says whether there is anything to write: when
/// it returns `false` nothing is written (`Ok(None)`), so the many concurrent
/// callers that find the change already made do not contend for the record.
pub fn update_when(store: &dyn Store, id: &str, change: impl Fn(&mut User) -> bool) -> Result<Option<User>> {
    let key = user_key(id);
    for _ in 0..32 {
        let Some((mut user, raw)) = kv::get_json_raw::<User>(store, &key)? else {
            return Err(ApiError::new(ErrorCode::UserNotFound, "No such user."));
        };
        if !change(&mut user) {
            return Ok(None);
        }
        user.id = id.to_owned();
        // As in `update`: lost = re-read and re-decide; misreported = the write id tells it landed.
        if kv::swap_json_checked(store, &key, &raw, &user, &crate::platform::clock::OsRandom)?.is_some() {
            return Ok(Some(user));
        }
    }
    Err(ApiError::unavailable("The account is being changed by another request; please try again."))
}

pub fn delete(store: &dyn Store, id: &str) -> Result<bool> {
    let Some(user) = get(store, id)? else { return Ok(false) };
    if user.is_admin() {
        set_admin(store, id, false)?;
    }
    store.delete(&user_key(id))?;
    if user.index > 0 {
        store.delete(&keys::user_index(user.index))?;
    }
    if let (Some(name), Some(claim)) = (name_key(&user.username), name_claim_key(&user.username)) {
        store.delete(&name)?;
        Counter::new(store, claim).delete()?;
    }
    Counter::new(store, signin_failures_key(id, user.lock_epoch)).delete()?;
    Ok(true)
}

/// One page of the user index: up to `limit` users from position `after`
/// (exclusive) on, in creation order, and the position to continue from. Work
/// is bounded by the page, whatever the directory's size: holes left by
/// deleted users are skipped, but at most `4 * limit` positions are read per
/// call (the cursor then points past them).
pub fn page(store: &dyn Store, after: u64, limit: usize) -> Result<(Vec<User>, Option<u64>)> {
    let last = Counter::new(store, keys::USER_INDEX_SEQ).read()?.max(0) as u64;
    let budget = (limit as u64).saturating_mul(4).max(1);
    let mut users = Vec::new();
    let mut at = after;
    while at < last && at - after < budget && users.len() < limit {
        at += 1;
        let Some(id) = store.get(&keys::user_index(at))? else { continue };
        if let Some(user) = get(store, &String::from_utf8_lossy(&id))? {
            users.push(user);
        }
    }
    Ok((users, (at < last).then_some(at)))
}

/// The administrators' ids, kept in one small record so that finding them
/// reads one key, not the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admins {
    pub ids: Vec<String>,
}

pub fn admin_ids(store: &dyn Store) -> Result<Vec<String>> {
    Ok(kv::get_json::<Admins>(store, keys::ADMINS)?.unwrap_or_default().ids)
}

/// Adds or removes `id` in the admins record. Compare-and-swap on an existing
/// record; a lost race or a swap misreported as failed (Spin's Redis store
/// does that) is settled by reading again: the loop ends once the membership
/// holds. The record itself is created once, by whoever claims it.
pub fn set_admin(store: &dyn Store, id: &str, admin: bool) -> Result<()> {
    for _ in 0..64 {
        let Some((mut rec, raw)) = kv::get_json_raw::<Admins>(store, keys::ADMINS)? else {
            if Counter::new(store, keys::ADMINS_CLAIM).claim()? {
                kv::put_json(store, keys::ADMINS, &Admins::default())?;
            }
            continue;
        };
        if rec.ids.iter().any(|x| x == id) == admin {
            return Ok(());
        }
        if admin {
            rec.ids.push(id.to_owned());
        } else {
            rec.ids.retain(|x| x != id);
        }
        // The outcome is not trusted either way (Spin's Redis store misreports
        // it): the loop re-reads and stops once the record says what we want.
        kv::swap_json(store, keys::ADMINS, &raw, &rec)?;
    }
    Err(ApiError::unavailable("The list of administrators is busy; please try again."))
}

/// The first email of up to `max` administrators (other than `except`):
/// reads the admins record and at most `max` + 1 users.
pub fn admin_emails(store: &dyn Store, except: Option<&str>, max: usize) -> Result<Vec<String>> {
    let mut emails = Vec::new();
    for id in admin_ids(store)?.into_iter().filter(|id| Some(id.as_str()) != except) {
        if emails.len() >= max {
            break;
        }
        let Some(admin) = get(store, &id)?.filter(User::is_admin) else { continue };
        if let Some(email) = admin.contacts.emails().first() {
            emails.push(email.to_string());
        }
    }
    Ok(emails)
}

/// Whether `password` is this user's password (Argon2id, constant work).
pub fn verify_password(user: &User, password: &str) -> bool {
    hashing::verify(password, &user.password_hash)
}

/// Verifies like [`verify_password`] and, on success, re-hashes a password
/// stored with older Argon2 parameters (sign-in uses this).
pub fn verify_and_upgrade(ctx: &Ctx, user: &User, password: &str) -> Result<bool> {
    if !verify_password(user, password) {
        return Ok(false);
    }
    if hashing::needs_rehash(&user.password_hash) {
        let hash = hashing::hash(ctx.random, password)?;
        let old = user.password_hash.clone();
        // Only if nobody changed the password meanwhile.
        update(ctx.store, &user.id, |u| {
            if u.password_hash == old {
                u.password_hash = hash.clone()
            }
        })?;
    }
    Ok(true)
}

/// Stores a new password hash (already policy-checked by the caller).
pub fn set_password(ctx: &Ctx, id: &str, password: &str) -> Result<User> {
    let hash = hashing::hash(ctx.random, password)?;
    let now = ctx.now();
    update(ctx.store, id, |u| new_password(u, &hash, now))
}

/// Ends a lockout: the flag and its end time, and a new lockout window with no
/// failed sign-in in it yet (the old window's counter is left to the sweep, so a
/// guess counted there concurrently cannot land in the new one).
pub fn clear_lockout(ctx: &Ctx, id: &str) -> Result<User> {
    let user = update(ctx.store, id, end_lockout)?;
    retire_window(ctx, id, user.lock_epoch - 1)?;
    Ok(user)
}

/// How many finished flows an account remembers. A flow's own record says
/// `Completed` a moment after it finished, so only flows finishing at once
/// need this list.
const FINISHED_FLOWS_KEPT: usize = 8;

/// Finishes the reset or unlock flow `flow_handle` with `change` to the
/// account, in one compare-and-swap that also records the flow: exactly one
/// caller ever gets the account back, every other (at once or later) 409
/// `flow_state`. So a flow never finishes without its change, nor twice.
pub fn finish_flow(ctx: &Ctx, id: &str, flow_handle: &str, change: impl Fn(&mut User)) -> Result<User> {
    // Recorded as `<handle>:<nonce of this request>`: when Spin's Redis store
    // reports the swap that landed as failed and another write to the account
    // lands before the re-read, the retry finds this request's own entry and
    // knows it won, rather than answering 409 after changing the account.
    let mine = format!("{flow_handle}:{}", kv::random_hex(ctx.random, 8));
    let mine_found = std::cell::Cell::new(false);
    let finished = update_when(ctx.store, id, |u| {
        if let Some(entry) = u.finished_flows.iter().find(|e| e.split(':').next() == Some(flow_handle)) {
            mine_found.set(*entry == mine);
            return false;
        }
        change(u);
        u.finished_flows.push(mine.clone());
        let over = u.finished_flows.len().saturating_sub(FINISHED_FLOWS_KEPT);
        u.finished_flows.drain(..over);
        true
    })?;
    match finished {
        Some(user) => Ok(user),
        None if mine_found.get() => get(ctx.store, id)?.ok_or_else(ApiError::flow_not_found),
        None => Err(ApiError::flow_state("This session has already been used. Please start again.")),
    }
}

/// A reset's change to the account, finishing its flow ([`finish_flow`]): the
/// new password (already policy-checked by the caller), as [`set_password`]
/// stores it, and the lockout ended, as [`clear_lockout`] ends it (its old
/// window retired).
pub fn reset_password(ctx: &Ctx, id: &str, flow_handle: &str, password: &str) -> Result<User> {
    let hash = hashing::hash(ctx.random, password)?;
    let now = ctx.now();
    let user = finish_flow(ctx, id, flow_handle, |u| {
        new_password(u, &hash, now);
        end_lockout(u);
    })?;
    retire_window(ctx, id, user.lock_epoch - 1)?;
    Ok(user)
}

/// An unlock's change to the account, finishing its flow ([`finish_flow`]):
/// the lockout ended, as [`clear_lockout`] ends it.
pub fn unlock_by_flow(ctx: &Ctx, id: &str, flow_handle: &str) -> Result<User> {
    let user = finish_flow(ctx, id, flow_handle, end_lockout)?;
    retire_window(ctx, id, user.lock_epoch - 1)?;
    Ok(user)
}

fn new_password(u: &mut User, hash: &str, now: u64) {
    u.password_hash = hash.to_owned();
    u.password_changed_at = now;
}

fn end_lockout(u: &mut User) {
    u.locked = false;
    u.locked_until = None;
    u.failed_signins = 0;
    u.lock_epoch += 1;
}

/// Files a lockout window the account has moved past for the sweep. An hour
/// on, so a guess still being counted there has landed by then.
pub fn retire_window(ctx: &Ctx, id: &str, epoch: u64) -> Result<()> {
    ctx.expires(&signin_failures_key(id, epoch), ctx.now() + 3600);
    Ok(())
}

/// What the sweep does with `signin-failures:<user>:<epoch>` (filed by
/// [`retire_window`]): gone once the account moved past that window, or is
/// gone itself. The current window is live and is filed when it is retired.
pub fn window_fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let rest = key.trim_start_matches("signin-failures:");
    let Some((user_id, epoch)) = rest.split_once(':') else { return Ok(Fate::Stale(vec![key.to_owned()])) };
    let current = get(ctx.store, user_id)?.map(|u| u.lock_epoch);
    Ok(match (current, epoch.parse::<u64>()) {
        (Some(current), Ok(epoch)) if epoch >= current => Fate::Gone,
        _ => Fate::Stale(vec![key.to_owned()]),
    })
}

/// Locks an account until `until` (or until unlocked when `None`).
pub fn lock(store: &dyn Store, id: &str, until: Option<u64>) -> Result<User> {
    update(store, id, |u| {
        u.locked = true;
        u.locked_until = until;
    })
}

/// docs/design.md: notices to administrators go to at most 100 of them.
pub const MAX_ADMIN_RECIPIENTS: usize = 100;

#[cfg(test)]
mod tests {

    #[test]
    fn admins_and_pages_are_found_without_reading_the_directory() {
        use crate::testing::StoreLog;
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..60 {
            let role = if i % 30 == 7 { Role::Admin } else { Role::User };
            let email = format!("person{i}@contoso.com");
            let contacts = Contacts { alternate_email: Some(email), ..Default::default() };
            create(
                &ctx,
                NewUser { username: format!("u{i}"), password: "x".into(), role, contacts, ..Default::default() },
            )
            .unwrap();
        }
        let counting = StoreLog::new(&env.store);
        let emails = admin_emails(&counting, None, 100).unwrap();
        assert_eq!(emails, ["person7@contoso.com", "person37@contoso.com"]);
        assert!(counting.reads().len() <= 3, "the admins record and the two admins: {}", counting.reads().len());

        let counting = StoreLog::new(&env.store);
        let (first, next) = page(&counting, 0, 10).unwrap();
        assert_eq!((first.len(), next), (10, Some(10)));
        assert!(counting.reads().len() <= 1 + 2 * 10, "a page reads its entries only: {}", counting.reads().len());

        // Demoting an admin and deleting one keep the record in step.
        let demoted = find_by_username(&*env.store, "u7").unwrap().unwrap();
        update(&*env.store, &demoted.id, |u| u.role = Role::User).unwrap();
        let gone = find_by_username(&*env.store, "u37").unwrap().unwrap();
        delete(&*env.store, &gone.id).unwrap();
        assert!(admin_ids(&*env.store).unwrap().is_empty());
        let (rest, _) = page(&*env.store, 30, 100).unwrap();
        assert_eq!(rest.len(), 29, "the deleted user is a hole the pager skips");
    }
    use super::*;
    use crate::testing::TestEnv;

    #[test]
    fn create_find_update_delete() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let u = create(
            &ctx,
            NewUser { username: "Jane@Contoso.com".into(), password: "pw-one-1".into(), ..Default::default() },
        )
        .unwrap();
        assert_eq!(u.id.len(), 32);
        let shown = u.redacted().to_string();
        assert!(!shown.contains("argon2") && shown.contains("Jane@Contoso.com"));
        assert!(u.sspr_enabled && u.password_managed_here);
        let found = find_by_username(ctx.store, "  jane@contoso.COM ").unwrap().unwrap();
        assert_eq!(found.id, u.id);
        assert!(verify_password(&found, "pw-one-1"));
        assert!(!verify_password(&found, "pw-one-2"));
        assert_eq!(
            create(&ctx, NewUser { username: "JANE@contoso.com".into(), password: "x".into(), ..Default::default() })
                .unwrap_err()
                .error(),
            "username_taken"
        );
        let locked = lock(ctx.store, &u.id, Some(ctx.now() + 60)).unwrap();
        assert!(locked.is_locked(ctx.now()) && !locked.is_locked(ctx.now() + 60));
        assert!(!clear_lockout(&ctx, &u.id).unwrap().is_locked(ctx.now()));
        set_password(&ctx, &u.id, "pw-two-2").unwrap();
        assert!(verify_password(&get(ctx.store, &u.id).unwrap().unwrap(), "pw-two-2"));
        assert!(delete(ctx.store, &u.id).unwrap());
        assert!(find_by_username(ctx.store, "jane@contoso.com").unwrap().is_none());
        // The name is free again after deletion.
        create(&ctx, NewUser { username: "jane@contoso.com".into(), password: "x".into(), ..Default::default() })
            .unwrap();
    }

    #[test]
    fn a_flow_finished_under_a_misreported_swap_is_still_this_request_s() {
        let env = TestEnv::new();
        let u = env.user_with_everything("jane@contoso.com");
        lock(&*env.store, &u.id, None).unwrap();
        // Spin's Redis store, and another writer changes the account before anyone reads it back.
        let misreporting = crate::testing::MisreportingStore {
            inner: &env.store,
            meanwhile: |store, key, new| {
                let mut other: User = serde_json::from_slice(new).unwrap();
                other.display_name.push('!');
                crate::platform::store::Store::set(store, key, &serde_json::to_vec(&other).unwrap()).unwrap();
            },
        };
        let ctx = env.ctx_on(&misreporting);
        let after = unlock_by_flow(&ctx, &u.id, "flow-a").expect("the unlock landed: not a 409");
        assert!(!after.is_locked(ctx.now()));
        let e = unlock_by_flow(&env.ctx(), &u.id, "flow-a").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"), "another request with the same flow still loses");
    }

    #[test]
    fn a_reset_changes_the_password_and_ends_the_lockout_in_one_write() {
        let env = TestEnv::new();
        let u = env.user_with_everything("jane@contoso.com");
        let u = update(&*env.store, &u.id, |u| u.failed_signins = 4).unwrap();
        lock(&*env.store, &u.id, None).unwrap();
        let log = crate::testing::StoreLog::new(&env.store);
        let ctx = env.ctx_on(&log);
        let after = reset_password(&ctx, &u.id, "flow-a", "violet kestrel harbour").unwrap();
        assert_eq!(log.writes(), [format!("cas user:{}", u.id)]);
        let e = reset_password(&ctx, &u.id, "flow-a", "another good one").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"), "a flow finishes once");
        assert_eq!(log.take_writes().len(), 1, "and the second try writes nothing");
        assert!(verify_password(&after, "violet kestrel harbour") && !verify_password(&after, "Old-password-42!"));
        assert!(!after.is_locked(ctx.now()) && after.locked_until.is_none() && after.failed_signins == 0);
        assert_eq!((after.lock_epoch, after.password_changed_at), (u.lock_epoch + 1, ctx.now()));
        assert_eq!(get(&*env.store, &u.id).unwrap().unwrap(), after);
        drop(ctx);
        // The old lockout window is filed for the sweep, as an unlock files it.
        let filed = log.writes().into_iter().find(|w| w.starts_with("set expiry:")).unwrap();
        let entry = env.store.get(filed.trim_start_matches("set ")).unwrap().unwrap();
        assert!(String::from_utf8(entry).unwrap().contains(&signin_failures_key(&u.id, u.lock_epoch)));
    }

    #[test]
    fn old_parameters_are_upgraded_on_a_successful_verify() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let u = create(&ctx, NewUser { username: "old".into(), password: "pw-old-1".into(), ..Default::default() })
            .unwrap();
        let weak = "$argon2id$v=19$m=32,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$";
        let weak_hash = {
            use argon2::password_hash::{PasswordHasher, SaltString};
            let a = argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon2::Params::new(32, 1, 1, None).unwrap(),
            );
            a.hash_password(b"pw-old-1", &SaltString::encode_b64(b"somesaltsomesalt").unwrap()).unwrap().to_string()
        };
        assert!(weak_hash.starts_with(weak));
        let u = update(ctx.store, &u.id, |x| x.password_hash = weak_hash.clone()).unwrap();
        assert!(!verify_and_upgrade(&ctx, &u, "wrong").unwrap());
        assert_eq!(get(ctx.store, &u.id).unwrap().unwrap().password_hash, weak_hash, "no upgrade on failure");
        assert!(verify_and_upgrade(&ctx, &u, "pw-old-1").unwrap());
        let now = get(ctx.store, &u.id).unwrap().unwrap();
        assert!(!hashing::needs_rehash(&now.password_hash));
        assert!(verify_password(&now, "pw-old-1"));
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let env = TestEnv::new();
        let u =
            create(&env.ctx(), NewUser { username: "n".into(), password: "p".into(), ..Default::default() }).unwrap();
        let store = env.store.clone();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, id) = (store.clone(), u.id.clone());
                std::thread::spawn(move || update(&*s, &id, |u| u.failed_signins += 1).unwrap())
            })
            .collect();
        threads.into_iter().for_each(|t| drop(t.join().unwrap()));
        assert_eq!(get(&*store, &u.id).unwrap().unwrap().failed_signins, 8);
    }

    #[test]
    fn methods_follow_contacts_policy_and_role() {
        let env = TestEnv::new();
        let mut u = env.user_with_everything("m@contoso.com");
        let mut policy = Policy::default();
        assert_eq!(u.available_methods(&policy), MethodId::ALL.to_vec());
        policy.methods_allowed = vec![MethodId::Email, MethodId::Questions];
        assert_eq!(u.available_methods(&policy), vec![MethodId::Email, MethodId::Questions]);
        u.role = Role::Admin;
        assert_eq!(u.available_methods(&policy), vec![MethodId::Email], "admins may not use questions");
        assert_eq!(u.gates_required(&Policy::default()), 2, "admins always need two gates");
        policy.questions_to_reset = 5;
        u.role = Role::User;
        u.security_answers.truncate(4);
        assert_eq!(u.available_methods(&policy), vec![MethodId::Email], "too few answers registered for 5");
    }
}
