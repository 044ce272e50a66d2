//! Contracts: a template's text with `{{placeholders}}` filled from the client, the project and
//! the freelancer when it is written (and again when a new text is given), editable while a
//! draft, then moved through its statuses one legal step at a time.

use super::pdf::{Block, TextDocument, render_text_blocking};
use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{ClientRow, Contract, ContractStatus, ContractTemplate};
use crate::store::clients;
use crate::store::contracts::{self as store, ContractFields, Filter};
use chrono::{Datelike, NaiveDate};
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{DbError, Ts};
use platform::money;
use platform::pagination::Page;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The longest contract text.
const MAX_BODY: usize = 50_000;

/// What a placeholder with no value becomes: a line to fill in by hand.
const BLANK: &str = "________";

/// The text a template starts from.
fn template_text(template: ContractTemplate) -> (&'static str, &'static str) {
    match template {
        ContractTemplate::Freelance => (
            "Freelance agreement",
            "This agreement is made on {{today}} between {{client.name}} ({{client.company}}), {{client.address}}, \
             the client, and {{freelancer.name}} ({{freelancer.email}}), the freelancer.\n\n\
             # Work\nThe freelancer will carry out the project {{project.name}}: {{project.description}}\n\n\
             # Term\nThe work starts on {{contract.starts_on}} and ends on {{contract.ends_on}}, unless both parties \
             agree in writing to change these dates.\n\n\
             # Payment\nThe client will pay {{contract.value}} for the work, against invoices sent by the freelancer.\n\n\
             # Independence\nThe freelancer works independently, decides how the work is done and provides their own \
             equipment. Nothing in this agreement makes the freelancer an employee of the client.\n\n\
             # Ownership\nOnce paid in full, the client owns the results made for this project. The freelancer may \
             keep and reuse general know-how and tools that existed before it.",
        ),
        ContractTemplate::Employment => (
            "Employment contract",
            "This contract is made on {{today}} between {{client.name}} ({{client.company}}), {{client.address}}, \
             the employer, and {{freelancer.name}}, the employee.\n\n\
             # Position\nThe employee is employed to work on {{project.name}} from {{contract.starts_on}}.\n\n\
             # Salary\nThe employer pays {{contract.value}} as agreed between the parties.\n\n\
             # Duration\nThe employment runs until {{contract.ends_on}} unless it is ended earlier with the notice \
             the law requires.\n\n\
             # Confidentiality\nThe employee keeps the employer's business information confidential during and \
             after the employment.",
        ),
        ContractTemplate::Partnership => (
            "Partnership agreement",
            "This agreement is made on {{today}} between {{freelancer.name}} and {{client.name}} \
             ({{client.company}}), the partners.\n\n\
             # Purpose\nThe partners work together on {{project.name}}: {{project.description}}\n\n\
             # Contributions\nEach partner contributes the work and means agreed between them; the value of the \
             partnership's first contributions is {{contract.value}}.\n\n\
             # Term\nThe partnership starts on {{contract.starts_on}} and runs until {{contract.ends_on}}.\n\n\
             # Decisions\nThe partners take decisions about the project together and share its results as agreed \
             in writing.",
        ),
        ContractTemplate::Service => (
            "Service agreement",
            "This agreement is made on {{today}} between {{freelancer.name}} ({{freelancer.email}}), the provider, \
             and {{client.name}} ({{client.company}}), {{client.address}}, the customer.\n\n\
             # Services\nThe provider supplies the services of the project {{project.name}}: \
             {{project.description}}\n\n\
             # Period\nThe services are supplied from {{contract.starts_on}} to {{contract.ends_on}}.\n\n\
             # Fees\nThe customer pays {{contract.value}} for the services, against the provider's invoices.\n\n\
             # Liability\nEach party is liable only for damage it causes intentionally or by gross negligence, to \
             the extent the law allows.",
        ),
        ContractTemplate::Nda => (
            "Non-disclosure agreement",
            "This agreement is made on {{today}} between {{client.name}} ({{client.company}}), {{client.address}}, \
             and {{freelancer.name}} ({{freelancer.email}}).\n\n\
             # Confidential information\nEverything one party learns from the other about {{project.name}}, \
             whether written or spoken, is confidential unless it is public already.\n\n\
             # Obligations\nEach party uses the other's confidential information only for the project, protects it \
             as carefully as its own, and shares it only with people who need it and are bound in the same way.\n\n\
             # Duration\nThese obligations start on {{contract.starts_on}} and last until {{contract.ends_on}}, \
             or, without an end date, for five years.",
        ),
    }
}

/// Fills `{{name}}` placeholders from `values` (an empty value becomes a blank line to fill in
/// by hand); the names not in `values` are returned instead, so a typo is reported rather than
/// printed.
pub(super) fn fill(text: &str, values: &BTreeMap<&str, String>) -> std::result::Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = after[..end].trim();
        match values.get(name) {
            Some(v) if v.trim().is_empty() => out.push_str(BLANK),
            Some(v) => out.push_str(v),
            None => unknown.push(name.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if unknown.is_empty() { Ok(out) } else { Err(unknown) }
}

/// A new contract.
#[derive(Debug, Clone)]
pub struct ContractInput {
    pub template: ContractTemplate,
    /// Defaults to the template's name.
    pub title: Option<String>,
    pub client_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// Defaults to the template's text; placeholders are filled either way.
    pub body: Option<String>,
    pub value: Option<String>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

/// Contract changes: content only while a draft; `status` one legal step.
#[derive(Debug, Clone, Default)]
pub struct ContractPatch {
    pub title: Option<String>,
    pub client_id: Option<Option<Uuid>>,
    pub project_id: Option<Option<Uuid>>,
    /// A new text, filled again.
    pub body: Option<String>,
    pub value: Option<Option<String>>,
    pub currency: Option<Option<String>>,
    pub starts_on: Option<Option<NaiveDate>>,
    pub ends_on: Option<Option<NaiveDate>>,
    pub status: Option<ContractStatus>,
}

impl ContractPatch {
    fn changes_content(&self) -> bool {
        self.title.is_some()
            || self.client_id.is_some()
            || self.project_id.is_some()
            || self.body.is_some()
            || self.value.is_some()
            || self.currency.is_some()
            || self.starts_on.is_some()
            || self.ends_on.is_some()
    }
}

/// What the list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ContractQuery {
    pub status: Option<ContractStatus>,
    pub client: Option<Uuid>,
    pub cursor: Option<Uuid>,
    pub limit: i64,
}

impl Freelance {
    /// Checks a contract whole and fills its text. `body` None keeps `kept_body` (already
    /// filled) or, for a new contract, takes the template's text.
    async fn contract_fields(
        &self,
        user: &AuthUser,
        input: &ContractInput,
        kept_body: Option<String>,
    ) -> Result<ContractFields> {
        let mut errors = Vec::new();
        let title = match &input.title {
            Some(given) => super::checks::required(&mut errors, "title", given, 200),
            None => template_text(input.template).0.to_string(),
        };
        let client: Option<ClientRow> = match input.client_id {
            None => None,
            Some(id) => match clients::get(&self.platform.db, id, user.user_id).await {
                Ok(c) => Some(c),
                Err(DbError::NotFound) => {
                    errors.push(FieldError::new("client_id", "is not one of your clients"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        let project = match input.project_id {
            None => None,
            Some(id) => match self.work.project(user, id).await {
                Ok(p) if p.role.is_some() => Some(p),
                Ok(_) | Err(work::WorkError::NotFound) => {
                    errors.push(FieldError::new("project_id", "is not a project you are a member of"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        let (value_minor, currency) = match (input.value.as_deref(), input.currency.as_deref()) {
            (None, None) => (None, None),
            (Some(value), currency) => {
                let code = currency.map(str::to_string).or_else(|| client.as_ref().and_then(|c| c.currency.clone()));
                match code.as_deref().map(money::currency) {
                    Some(Ok((code, exponent))) => match money::parse_amount(value, exponent) {
                        Ok(minor) if minor <= crate::model::MAX_TOTAL_MINOR => (Some(minor), Some(code.to_string())),
                        Ok(_) => {
                            errors.push(FieldError::new("value", "is too large"));
                            (None, None)
                        }
                        Err(m) => {
                            errors.push(FieldError::new("value", m));
                            (None, None)
                        }
                    },
                    Some(Err(m)) => {
                        errors.push(FieldError::new("currency", m));
                        (None, None)
                    }
                    None => {
                        errors.push(FieldError::new("currency", "is required with value"));
                        (None, None)
                    }
                }
            }
            (None, Some(_)) => {
                errors.push(FieldError::new("currency", "is the currency of value; give both or neither"));
                (None, None)
            }
        };
        for (name, date) in [("starts_on", input.starts_on), ("ends_on", input.ends_on)] {
            if date.is_some_and(|d| !(1900..=9999).contains(&d.year())) {
                errors.push(FieldError::new(name, "must be a date between 1900 and 9999"));
            }
        }
        if let (Some(start), Some(end)) = (input.starts_on, input.ends_on)
            && end < start
        {
            errors.push(FieldError::new("ends_on", "must not be before starts_on"));
        }
        let sender = self.accounts.user(user.user_id).await?;
        let show = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let text = |v: Option<&String>| v.cloned().unwrap_or_default();
        let values: BTreeMap<&str, String> = BTreeMap::from([
            ("today", Ts::now().get().date_naive().to_string()),
            ("freelancer.name", sender.name.clone()),
            ("freelancer.email", sender.email.clone().unwrap_or_default()),
            ("client.name", text(client.as_ref().map(|c| &c.name))),
            ("client.company", text(client.as_ref().and_then(|c| c.company.as_ref()))),
            ("client.email", text(client.as_ref().and_then(|c| c.email.as_ref()))),
            ("client.address", text(client.as_ref().and_then(|c| c.address.as_ref())).replace('\n', ", ")),
            ("client.tax_id", text(client.as_ref().and_then(|c| c.tax_id.as_ref()))),
            ("project.name", text(project.as_ref().map(|p| &p.name))),
            ("project.description", text(project.as_ref().map(|p| &p.description))),
            ("contract.title", title.clone()),
            (
                "contract.value",
                value_minor.zip(currency.as_deref()).map(|(m, c)| money::display(m, c)).unwrap_or_default(),
            ),
            ("contract.starts_on", show(input.starts_on)),
            ("contract.ends_on", show(input.ends_on)),
        ]);
        let body = match (&input.body, kept_body) {
            (Some(given), _) => Some(given.clone()),
            (None, Some(kept)) => {
                // Already filled: kept as it is.
                if errors.is_empty() {
                    return Ok(ContractFields {
                        client_id: client.map(|c| c.id),
                        project_id: project.map(|p| p.id),
                        template: input.template.as_str().to_string(),
                        title,
                        body: kept,
                        value_minor,
                        currency,
                        starts_on: input.starts_on,
                        ends_on: input.ends_on,
                    });
                }
                None
            }
            (None, None) => Some(template_text(input.template).1.to_string()),
        };
        let body = match body {
            Some(b) if b.chars().count() > MAX_BODY => {
                errors.push(FieldError::new("body", format!("must be at most {MAX_BODY} characters")));
                String::new()
            }
            Some(b)
                if b.chars().any(|c| {
                    (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || platform::text::is_hidden_format(c)
                }) =>
            {
                errors.push(FieldError::new("body", "must not contain control or invisible formatting characters"));
                String::new()
            }
            Some(b) => match fill(&b, &values) {
                // Filled values may be long (a project's description): the limit holds for
                // the text that is stored.
                Ok(filled) if filled.chars().count() > MAX_BODY => {
                    errors.push(FieldError::new(
                        "body",
                        format!("must be at most {MAX_BODY} characters once its placeholders are filled"),
                    ));
                    String::new()
                }
                Ok(filled) => filled,
                Err(unknown) => {
                    let known: Vec<&str> = values.keys().copied().collect();
                    errors.push(FieldError::new(
                        "body",
                        format!("has unknown placeholders {}; known: {}", unknown.join(", "), known.join(", ")),
                    ));
                    String::new()
                }
            },
            None => String::new(),
        };
        if !errors.is_empty() {
            return Err(FreelanceError::Invalid(errors));
        }
        Ok(ContractFields {
            client_id: client.map(|c| c.id),
            project_id: project.map(|p| p.id),
            template: input.template.as_str().to_string(),
            title,
            body,
            value_minor,
            currency,
            starts_on: input.starts_on,
            ends_on: input.ends_on,
        })
    }

    /// Writes a contract from a template, its text filled.
    pub async fn create_contract(&self, user: &AuthUser, input: &ContractInput) -> Result<Contract> {
        let fields = self.contract_fields(user, input, None).await?;
        Ok(store::insert(&self.platform.db, Uuid::now_v7(), user.user_id, &fields, Ts::now()).await?.into())
    }

    /// One of the caller's contracts.
    pub async fn contract(&self, user: &AuthUser, id: Uuid) -> Result<Contract> {
        Ok(store::get(&self.platform.db, id, user.user_id).await?.into())
    }

    /// The caller's contracts, newest first.
    pub async fn contracts(&self, user: &AuthUser, query: &ContractQuery) -> Result<Page<Contract>> {
        let filter = Filter {
            owner: user.user_id,
            status: query.status.map(|s| s.as_str().to_string()),
            client: query.client,
            before: query.cursor,
            limit: query.limit,
        };
        let rows = store::list(&self.platform.db, &filter).await?;
        Ok(Page::from_rows(rows.into_iter().map(Contract::from).collect(), query.limit, |c| c.id))
    }

    /// Changes a contract: its content while a draft (409 `contract_not_draft` after), its
    /// status one legal step (409 `invalid_transition`), in one transaction with the row locked.
    pub async fn update_contract(&self, user: &AuthUser, id: Uuid, patch: ContractPatch) -> Result<Contract> {
        let current = store::get(&self.platform.db, id, user.user_id).await?;
        if patch.changes_content() && current.status() != ContractStatus::Draft {
            return Err(FreelanceError::ContractNotDraft);
        }
        let exponent = current.currency.as_deref().map_or(2, money::exponent);
        let input = ContractInput {
            template: ContractTemplate::from_stored(&current.template),
            title: Some(patch.title.clone().unwrap_or(current.title.clone())),
            client_id: patch.client_id.unwrap_or(current.client_id),
            project_id: patch.project_id.unwrap_or(current.project_id),
            body: patch.body.clone(),
            value: patch.value.clone().unwrap_or(current.value_minor.map(|m| money::format_amount(m, exponent))),
            currency: patch.currency.clone().unwrap_or(current.currency.clone()),
            starts_on: patch.starts_on.unwrap_or(current.starts_on),
            ends_on: patch.ends_on.unwrap_or(current.ends_on),
        };
        let fields = if patch.changes_content() {
            self.contract_fields(user, &input, Some(current.body.clone())).await?
        } else {
            ContractFields {
                client_id: current.client_id,
                project_id: current.project_id,
                template: current.template.clone(),
                title: current.title.clone(),
                body: current.body.clone(),
                value_minor: current.value_minor,
                currency: current.currency.clone(),
                starts_on: current.starts_on,
                ends_on: current.ends_on,
            }
        };
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let locked = store::lock(&mut tx, id, user.user_id).await?;
        if patch.changes_content() && locked.status() != ContractStatus::Draft {
            return Err(FreelanceError::ContractNotDraft);
        }
        let mut status = locked.status();
        let mut times = [locked.sent_at, locked.signed_at, locked.activated_at, locked.ended_at];
        if let Some(next) = patch.status
            && next != status
        {
            if !status.can_become(next) {
                return Err(FreelanceError::InvalidTransition { from: status.as_str(), to: next.as_str() });
            }
            let slot = match next {
                ContractStatus::Sent => 0,
                ContractStatus::Signed => 1,
                ContractStatus::Active => 2,
                _ => 3,
            };
            times[slot] = Some(now);
            status = next;
        }
        let row = store::update(&mut tx, id, user.user_id, &fields, status.as_str(), times, now).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// Deletes a draft contract (409 `contract_not_draft` after: terminate it instead).
    pub async fn delete_contract(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        if row.status() != ContractStatus::Draft || !store::delete_draft(&self.platform.db, id, user.user_id).await? {
            return Err(FreelanceError::ContractNotDraft);
        }
        Ok(())
    }

    /// The contract as a PDF, with signature spaces for both parties, and its file name.
    pub async fn contract_pdf(&self, user: &AuthUser, id: Uuid) -> Result<(Vec<u8>, String)> {
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        let sender = self.accounts.user(user.user_id).await?;
        let client = match row.client_id {
            Some(c) => clients::get(&self.platform.db, c, user.user_id).await.ok(),
            None => None,
        };
        let mut blocks = Vec::new();
        for part in row.body.split("\n\n") {
            let part = part.trim_matches('\n');
            if part.trim().is_empty() {
                continue;
            }
            match part.split_once('\n') {
                Some((first, rest)) if first.starts_with("# ") => {
                    blocks.push(Block::Heading(first.trim_start_matches("# ").trim().to_string()));
                    blocks.push(Block::Paragraph(rest.to_string()));
                }
                None if part.starts_with("# ") => {
                    blocks.push(Block::Heading(part.trim_start_matches("# ").to_string()))
                }
                _ => blocks.push(Block::Paragraph(part.to_string())),
            }
        }
        let client_name = client.map_or_else(|| BLANK.to_string(), |c| c.name);
        blocks.push(Block::Signatures(vec![sender.name.clone(), client_name.clone()]));
        let status = ContractStatus::from_stored(&row.status).as_str();
        let doc = TextDocument {
            title: row.title.clone(),
            subtitle: vec![format!("Between {} and {} · status: {status}", sender.name, client_name)],
            blocks,
            accent: (20, 20, 20),
            upper_headings: false,
        };
        let pdf = render_text_blocking(self.fonts()?, doc).await.map_err(platform::error::Internal::new)?;
        Ok((pdf, format!("contract-{id}.pdf")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_blank_or_are_reported() {
        let values = BTreeMap::from([("client.name", "Acme".to_string()), ("project.name", String::new())]);
        assert_eq!(fill("For {{ client.name }} on {{project.name}}.", &values), Ok(format!("For Acme on {BLANK}.")));
        assert_eq!(fill("{{client.nmae}} and {{x}}", &values), Err(vec!["client.nmae".to_string(), "x".to_string()]));
        assert_eq!(fill("Unclosed {{client.name", &values), Ok("Unclosed {{client.name".to_string()));
        // A value that looks like a placeholder is not filled again.
        let tricky = BTreeMap::from([("client.name", "{{client.name}}".to_string())]);
        assert_eq!(fill("{{client.name}}", &tricky), Ok("{{client.name}}".to_string()));
    }

    #[test]
    fn every_template_fills_with_the_known_names() {
        let names = [
            "today",
            "freelancer.name",
            "freelancer.email",
            "client.name",
            "client.company",
            "client.email",
            "client.address",
            "client.tax_id",
            "project.name",
            "project.description",
            "contract.title",
            "contract.value",
            "contract.starts_on",
            "contract.ends_on",
        ];
        let values: BTreeMap<&str, String> = names.iter().map(|n| (*n, format!("<{n}>"))).collect();
        for t in [
            ContractTemplate::Freelance,
            ContractTemplate::Employment,
            ContractTemplate::Partnership,
            ContractTemplate::Service,
            ContractTemplate::Nda,
        ] {
            let filled = fill(template_text(t).1, &values).unwrap();
            assert!(!filled.contains("{{"), "{t:?}");
            assert!(filled.contains("<client.name>") || filled.contains("<freelancer.name>"));
        }
    }
}
