//! Bundles: several events of one organiser sold as one ticket at the bundle's own price.
//!
//! Anyone sees a bundle whose events are all published (and that has at least one); its owner
//! and admins see it always. Its events change only while no bundle ticket is sold, so every
//! ticket has a seat in every event of its bundle.

use super::events::priced;
use super::{Result, Ticketing, id_cursor, page};
use crate::error::TicketingError;
use crate::model::{Bundle, BundleRow, EventRow};
use crate::store::{self, bundles::BundleFields, bundles::Lock};
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use platform::pagination::Page;
use std::collections::HashMap;
use uuid::Uuid;

/// Events a bundle may hold at most.
pub const MAX_EVENTS: usize = 50;

/// A bundle's fields as given (a new bundle needs `name`, `price` and `currency`).
#[derive(Debug, Clone, Default)]
pub struct BundleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<String>,
    pub currency: Option<String>,
}

/// A bundle's fields once checked.
struct Checked {
    name: String,
    description: String,
    price_minor: i64,
    currency: &'static str,
}

impl Checked {
    fn fields(&self) -> BundleFields<'_> {
        BundleFields {
            name: &self.name,
            description: &self.description,
            price_minor: self.price_minor,
            currency: self.currency,
        }
    }
}

fn checked(input: &BundleInput, current: Option<&BundleRow>) -> Result<Checked> {
    let mut errors = Vec::new();
    let name = input.name.clone().or_else(|| current.map(|c| c.name.clone()));
    let currency = input.currency.clone().or_else(|| current.map(|c| c.currency.clone()));
    for (field, absent) in [
        ("name", name.is_none()),
        ("price", input.price.is_none() && current.is_none()),
        ("currency", currency.is_none()),
    ] {
        if absent {
            errors.push(FieldError::new(field, "is required"));
        }
    }
    let name = name.unwrap_or_default().trim().to_string();
    if !(3..=100).contains(&name.chars().count()) {
        errors.push(FieldError::new("name", "must be 3–100 characters"));
    }
    if name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "must not contain control characters"));
    }
    let description = input.description.clone().or_else(|| current.map(|c| c.description.clone())).unwrap_or_default();
    if description.chars().count() > 5_000 {
        errors.push(FieldError::new("description", "must be at most 5000 characters"));
    }
    if description.contains('\0') {
        errors.push(FieldError::new("description", "must not contain NUL characters"));
    }
    let (currency, price_minor) = priced(
        input.price.as_deref(),
        currency.as_deref(),
        current.map(|c| (c.price_minor, c.currency.as_str())),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(TicketingError::Invalid(errors));
    }
    Ok(Checked { name, description, price_minor, currency })
}

/// Whether `caller` may see a bundle with these events: published ones (all of them, and at
/// least one) for anyone, the rest for the owner and admins.
fn visible(row: &BundleRow, events: &[EventRow], caller: Option<&AuthUser>) -> bool {
    caller.is_some_and(|u| u.is_admin() || u.user_id == row.owner_id)
        || (!events.is_empty() && events.iter().all(|e| e.published_at.is_some()))
}

impl Ticketing {
    /// Creates a bundle owned by the caller, without events yet (verified users, as events).
    pub async fn create_bundle(&self, user: &AuthUser, input: &BundleInput) -> Result<Bundle> {
        self.require_verified(user).await?;
        let checked = checked(input, None)?;
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let row = store::bundles::insert_bundle(&mut tx, Uuid::now_v7(), user.user_id, &checked.fields(), now).await?;
        tx.commit().await?;
        Ok(Bundle::new(row, &[], now))
    }

    /// A bundle the caller (None: anyone) may see.
    pub async fn bundle(&self, caller: Option<&AuthUser>, id: Uuid) -> Result<Bundle> {
        let row = store::bundles::bundle(&self.platform.db, id).await?.ok_or(TicketingError::NotFound)?;
        let events: Vec<EventRow> =
            store::bundles::events_of(&self.platform.db, &[id]).await?.into_iter().map(|m| m.event).collect();
        if !visible(&row, &events, caller) {
            return Err(TicketingError::NotFound);
        }
        Ok(Bundle::new(row, &events, Ts::now()))
    }

    /// Bundles anyone may see, with the caller's own, newest first; `owner` narrows to one
    /// organiser's.
    pub async fn bundles(
        &self,
        caller: Option<&AuthUser>,
        owner: Option<Uuid>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<Bundle>> {
        let before = id_cursor(cursor)?;
        let db = &self.platform.db;
        let rows = store::bundles::list_bundles(db, caller.map(|u| u.user_id), owner, before, limit).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut events: HashMap<Uuid, Vec<EventRow>> = HashMap::new();
        for member in store::bundles::events_of(db, &ids).await? {
            events.entry(member.bundle_id).or_default().push(member.event);
        }
        let now = Ts::now();
        Ok(page(
            rows,
            limit,
            |r| r.id.to_string(),
            |r| {
                let own = events.remove(&r.id).unwrap_or_default();
                Bundle::new(r, &own, now)
            },
        ))
    }

    /// The bundle, locked, if the caller may change it (404 unseen, 403 seen but not theirs).
    async fn own_bundle(&self, tx: &mut Tx, user: &AuthUser, id: Uuid) -> Result<(BundleRow, Vec<EventRow>)> {
        let row = store::bundles::bundle_in(tx, id, Lock::Update).await?.ok_or(TicketingError::NotFound)?;
        let events = store::bundles::events_in(tx, id).await?;
        if !visible(&row, &events, Some(user)) {
            return Err(TicketingError::NotFound);
        }
        if row.owner_id != user.user_id && !user.is_admin() {
            return Err(TicketingError::Forbidden);
        }
        Ok((row, events))
    }

    /// Changes the bundle's fields (owner or admin). Its currency changes only while its events
    /// are priced in the new one (none, in practice, once it has events).
    pub async fn update_bundle(&self, user: &AuthUser, id: Uuid, input: &BundleInput) -> Result<Bundle> {
        let mut tx = self.platform.db.begin().await?;
        let (current, events) = self.own_bundle(&mut tx, user, id).await?;
        let checked = checked(input, Some(&current))?;
        if checked.currency != current.currency {
            if store::bundles::has_tickets(&mut tx, id).await? {
                return Err(TicketingError::BundleHasTickets);
            }
            if events.iter().any(|e| e.currency != checked.currency) {
                return Err(TicketingError::CurrencyMismatch);
            }
        }
        let now = Ts::now();
        let row = store::bundles::update_bundle(&mut tx, id, &checked.fields(), now)
            .await?
            .ok_or(TicketingError::NotFound)?;
        tx.commit().await?;
        Ok(Bundle::new(row, &sorted(events), now))
    }

    /// Deletes a bundle of which no ticket was sold (owner or admin; `bundle_has_tickets`).
    pub async fn delete_bundle(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        self.own_bundle(&mut tx, user, id).await?;
        if store::bundles::has_tickets(&mut tx, id).await? {
            return Err(TicketingError::BundleHasTickets);
        }
        store::bundles::delete_bundle(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts an event of the caller's into the caller's bundle (`add`), or takes it out. The
    /// caller owns both (an admin acts as the bundle's owner, whose event it must be); nothing
    /// changes once a bundle ticket is sold; the event is priced in the bundle's currency.
    pub async fn set_bundle_event(&self, user: &AuthUser, id: Uuid, event: Uuid, add: bool) -> Result<Bundle> {
        let mut tx = self.platform.db.begin().await?;
        // The events first (the bundle's and the one added), then the bundle: the one order of
        // locks, which the checkout also follows (events, then the bundle to read it).
        let mut events = store::bundles::events_in(&mut tx, id).await?.iter().map(|e| e.id).collect::<Vec<_>>();
        events.push(event);
        store::lock_events(&mut tx, &events).await?;
        let (bundle, events) = self.own_bundle(&mut tx, user, id).await?;
        let found = store::event_for_update(&mut tx, event).await?;
        let found =
            found.filter(|e| e.visible_to(Some((user.user_id, user.is_admin())))).ok_or(TicketingError::NotFound)?;
        if found.owner_id != bundle.owner_id {
            return Err(TicketingError::Forbidden);
        }
        if store::bundles::has_tickets(&mut tx, id).await? {
            return Err(TicketingError::BundleHasTickets);
        }
        let mut events = events;
        if add {
            if found.currency != bundle.currency {
                return Err(TicketingError::CurrencyMismatch);
            }
            if events.iter().all(|e| e.id != event) {
                if events.len() >= MAX_EVENTS {
                    return Err(TicketingError::field(
                        "event_id",
                        format!("a bundle holds at most {MAX_EVENTS} events"),
                    ));
                }
                store::bundles::add_event(&mut tx, id, event).await?;
                events.push(found);
            }
        } else if store::bundles::remove_event(&mut tx, id, event).await? {
            events.retain(|e| e.id != event);
        } else {
            return Err(TicketingError::NotFound);
        }
        tx.commit().await?;
        Ok(Bundle::new(bundle, &sorted(events), Ts::now()))
    }
}

/// Events soonest first, as bundles show them.
fn sorted(mut events: Vec<EventRow>) -> Vec<EventRow> {
    events.sort_by_key(|e| (e.starts_at, e.id));
    events
}
