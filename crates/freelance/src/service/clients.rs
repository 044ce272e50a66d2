//! Clients: a freelancer's address book of the people they bill, private to them.

use super::checks::text;
use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{Client, ClientRow};
use crate::store::clients::{self as store, ClientFields, Filter};
use crate::store::invoices;
use accounts::PhoneNumber;
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{DbError, Ts};
use platform::money;
use platform::pagination::Page;
use uuid::Uuid;

/// The highest hourly rate, in whole units of its currency: a typo of a few digits is refused
/// before it reaches an invoice.
pub const MAX_RATE: i64 = 1_000_000;

/// A new client, as given.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
    pub tax_id: Option<String>,
    pub currency: Option<String>,
    pub hourly_rate: Option<String>,
    pub notes: Option<String>,
}

/// Client changes: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// `Some(None)` is refused: a client keeps a name.
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub tax_id: Option<Option<String>>,
    pub currency: Option<Option<String>>,
    pub hourly_rate: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    /// Archive (true) or restore (false).
    pub archived: Option<bool>,
}

/// What the list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    /// Words of the name, company or email, any case, accents or not.
    pub q: Option<String>,
    /// Archived clients instead of active ones.
    pub archived: bool,
    pub cursor: Option<Uuid>,
    pub limit: i64,
}

/// Checks every field of `input` and reports all that are wrong at once. `rate_in` is the
/// currency of a rate kept from before (None: the rate, if any, comes with `input`): a rate is
/// an amount in its currency, so a kept rate and a new currency would turn 130 EUR into 130 USD.
fn check(input: &ClientInput, rate_in: Option<&str>) -> Result<ClientFields> {
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", Some(&input.name), 200, false);
    if name.is_none() && !errors.iter().any(|e| e.field == "name") {
        errors.push(FieldError::new("name", "is required (1 to 200 characters)"));
    }
    let email = text(&mut errors, "email", input.email.as_deref(), 254, false).and_then(|e| {
        accounts::EmailAddress::parse(&e)
            .map(|e| e.as_str().to_string())
            .map_err(|_| errors.push(FieldError::new("email", "is not a valid email address")))
            .ok()
    });
    let phone = text(&mut errors, "phone", input.phone.as_deref(), 40, false).and_then(|p| {
        PhoneNumber::parse(&p)
            .map(|p| p.as_str().to_string())
            .map_err(|_| {
                errors.push(FieldError::new("phone", "is not a valid international phone number (+country code)"))
            })
            .ok()
    });
    let currency = text(&mut errors, "currency", input.currency.as_deref(), 3, false).and_then(|c| {
        money::currency(&c)
            .map(|(code, _)| code.to_string())
            .map_err(|m| errors.push(FieldError::new("currency", m)))
            .ok()
    });
    let currency_failed = errors.iter().any(|e| e.field == "currency");
    let hourly_rate_minor = match (input.hourly_rate.as_deref().map(str::trim).filter(|r| !r.is_empty()), &currency) {
        (None, _) => None,
        (Some(_), _) if currency_failed => None,
        (Some(_), _) if rate_in.is_some() && rate_in != currency.as_deref() => {
            errors.push(FieldError::new("hourly_rate", "must be given again (or null) when the currency changes"));
            None
        }
        (Some(_), None) => {
            errors.push(FieldError::new("hourly_rate", "needs the client's currency"));
            None
        }
        (Some(rate), Some(code)) => {
            let exponent = money::exponent(code);
            match money::parse_amount(rate, exponent) {
                Ok(minor) if minor <= MAX_RATE * 10i64.pow(exponent) => Some(minor),
                Ok(_) => {
                    errors.push(FieldError::new("hourly_rate", format!("must be at most {MAX_RATE}")));
                    None
                }
                Err(m) => {
                    errors.push(FieldError::new("hourly_rate", m));
                    None
                }
            }
        }
    };
    let fields = ClientFields {
        name: name.unwrap_or_default(),
        email,
        phone,
        company: text(&mut errors, "company", input.company.as_deref(), 200, false),
        address: text(&mut errors, "address", input.address.as_deref(), 1000, true),
        tax_id: text(&mut errors, "tax_id", input.tax_id.as_deref(), 50, false),
        currency,
        hourly_rate_minor,
        notes: text(&mut errors, "notes", input.notes.as_deref(), 5000, true),
    };
    if errors.is_empty() { Ok(fields) } else { Err(FreelanceError::Invalid(errors)) }
}

/// The input that gives back `row` as it is (the base a patch applies to).
fn as_input(row: ClientRow) -> ClientInput {
    let hourly_rate = Client::from(row.clone()).hourly_rate;
    ClientInput {
        name: row.name,
        email: row.email,
        phone: row.phone,
        company: row.company,
        address: row.address,
        tax_id: row.tax_id,
        currency: row.currency,
        hourly_rate,
        notes: row.notes,
    }
}

impl Freelance {
    /// Adds a client to the caller's books.
    pub async fn create_client(&self, user: &AuthUser, input: &ClientInput) -> Result<Client> {
        let fields = check(input, None)?;
        let row = store::insert(&self.platform.db, Uuid::now_v7(), user.user_id, &fields, Ts::now()).await?;
        Ok(row.into())
    }

    /// One of the caller's clients.
    pub async fn client(&self, user: &AuthUser, id: Uuid) -> Result<Client> {
        Ok(store::get(&self.platform.db, id, user.user_id).await?.into())
    }

    /// The caller's clients, newest first.
    pub async fn clients(&self, user: &AuthUser, query: &ClientQuery) -> Result<Page<Client>> {
        let pattern = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) if q.chars().count() > 100 || q.chars().any(char::is_control) => {
                return Err(FreelanceError::field("q", "must be at most 100 characters, without control characters"));
            }
            Some(q) => Some(platform::text::like_contains(&platform::text::fold(q))),
            None => None,
        };
        let filter =
            Filter { owner: user.user_id, pattern, archived: query.archived, before: query.cursor, limit: query.limit };
        let rows = store::list(&self.platform.db, &filter).await?;
        Ok(Page::from_rows(rows.into_iter().map(Client::from).collect(), query.limit, |c| c.id))
    }

    /// Changes a client: the fields given and archiving, in one transaction with the client
    /// locked, so that two changes of different fields both land.
    pub async fn update_client(&self, user: &AuthUser, id: Uuid, patch: ClientPatch) -> Result<Client> {
        let mut tx = self.platform.db.begin().await?;
        let current = store::lock(&mut tx, id, user.user_id).await?;
        let was_archived = current.archived_at.is_some();
        // A rate left out of the patch stays in the currency it was stored in.
        let kept_rate_currency =
            current.hourly_rate_minor.and(current.currency.clone()).filter(|_| patch.hourly_rate.is_none());
        let mut input = as_input(current.clone());
        let edits = [
            (&mut input.email, patch.email),
            (&mut input.phone, patch.phone),
            (&mut input.company, patch.company),
            (&mut input.address, patch.address),
            (&mut input.tax_id, patch.tax_id),
            (&mut input.currency, patch.currency),
            (&mut input.hourly_rate, patch.hourly_rate),
            (&mut input.notes, patch.notes),
        ];
        let changed = edits.iter().any(|(_, new)| new.is_some()) || patch.name.is_some();
        for (field, new) in edits {
            if let Some(new) = new {
                *field = new;
            }
        }
        if let Some(name) = patch.name {
            input.name = name.unwrap_or_default();
        }
        let now = Ts::now();
        let mut row = if changed {
            store::update(&mut tx, id, user.user_id, &check(&input, kept_rate_currency.as_deref())?, now).await?
        } else {
            current
        };
        if let Some(archive) = patch.archived
            && archive != was_archived
        {
            row = store::set_archived(&mut tx, id, user.user_id, archive.then_some(now), now).await?;
        }
        tx.commit().await?;
        Ok(row.into())
    }

    /// Deletes a client without invoices (409 `client_has_invoices`: archive it instead).
    pub async fn delete_client(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        store::get(&self.platform.db, id, user.user_id).await?;
        if invoices::client_has_invoices(&self.platform.db, id).await? {
            return Err(FreelanceError::ClientHasInvoices);
        }
        match store::delete(&self.platform.db, id, user.user_id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(FreelanceError::NotFound),
            // An invoice written meanwhile.
            Err(DbError::ForeignKey) => Err(FreelanceError::ClientHasInvoices),
            Err(e) => Err(e.into()),
        }
    }
}
