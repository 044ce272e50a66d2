//! Public links: an invoice the client can open without an account, as an HTML page or its
//! PDF, through an unguessable token the owner can revoke.
//!
//! The token is 256 random bits, shown once; only its SHA-256 is stored, so the table alone
//! opens nothing. The page shows what the PDF shows (the freelancer's name and email, the
//! client's details, dates, lines, taxes, totals, the amount paid and the notes) and nothing
//! else: no ids, no payment details, no other invoice.

use super::pdf::InvoiceDocument;
use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{InvoiceRow, InvoiceStatus, PublicLink};
use crate::store::invoices as store;
use platform::auth::AuthUser;
use platform::crypto;
use platform::db::Ts;
use platform::mail::html_escape;
use uuid::Uuid;

/// Views of one public link per minute.
pub const PUBLIC_VIEWS: platform::ratelimit::Quota =
    platform::ratelimit::Quota::new(60, std::time::Duration::from_secs(60));

/// Whether `text` has the shape of a token (43 base64url characters), checked before any
/// lookup so that no stray byte reaches the database.
fn is_token(text: &str) -> bool {
    text.len() == 43 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Freelance {
    /// Creates a public link to an issued invoice, replacing any earlier one (whose token stops
    /// working). A draft has none (409 `invoice_not_sent`).
    pub async fn create_public_link(&self, user: &AuthUser, id: Uuid) -> Result<PublicLink> {
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        if row.status() == InvoiceStatus::Draft {
            return Err(FreelanceError::InvoiceNotSent);
        }
        let token = crypto::random_token();
        store::set_public_token(&self.platform.db, id, user.user_id, Some(&crypto::sha256_hex(&token)), Ts::now())
            .await?;
        let base = self.platform.config.public_url.trim_end_matches('/');
        Ok(PublicLink { url: format!("{base}/api/v1/freelance/public/invoices/{token}"), token })
    }

    /// Revokes an invoice's public link.
    pub async fn revoke_public_link(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        store::set_public_token(&self.platform.db, id, user.user_id, None, Ts::now()).await?;
        Ok(())
    }

    /// The invoice a public token opens (404 for a malformed, unknown or revoked token), at
    /// most [`PUBLIC_VIEWS`] times a minute per link: the page and its PDF are made each time,
    /// for anyone who holds the link.
    async fn public_row(&self, token: &str) -> Result<InvoiceRow> {
        if !is_token(token) {
            return Err(FreelanceError::NotFound);
        }
        let hash = crypto::sha256_hex(token);
        let row = store::by_public_token(&self.platform.db, &hash).await?;
        self.platform
            .limiter
            .hit(&format!("invoice-public:{hash}"), PUBLIC_VIEWS)
            .await
            .map_err(FreelanceError::RateLimited)?;
        Ok(row)
    }

    /// The public invoice as its PDF, and the file name.
    pub async fn public_invoice_pdf(&self, token: &str) -> Result<(Vec<u8>, String)> {
        let row = self.public_row(token).await?;
        let name = row.number.map(crate::model::invoice_number).unwrap_or_default();
        Ok((self.pdf_of(&row).await?, format!("{name}.pdf")))
    }

    /// The public invoice as an HTML page.
    pub async fn public_invoice_html(&self, token: &str) -> Result<String> {
        let row = self.public_row(token).await?;
        let db = &self.platform.db;
        let (lines, taxes) = (store::lines(db, row.id).await?, store::taxes(db, row.id).await?);
        let parties = self.parties(&row).await?;
        Ok(page(&super::billing::document(&row, &lines, &taxes, &parties.0, &parties.1)))
    }
}

/// The HTML page of an invoice: the PDF's content, every value escaped.
fn page(doc: &InvoiceDocument) -> String {
    let e = |t: &str| html_escape(t);
    let title = format!("{} {}", doc.title, doc.number.clone().unwrap_or_default());
    let list = |items: &[String]| items.iter().map(|i| e(i)).collect::<Vec<_>>().join("<br>");
    let facts: String = doc.facts.iter().map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", e(k), e(v))).collect();
    let lines: String = doc
        .lines
        .iter()
        .map(|[d, q, p, a]| {
            format!(
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                e(d),
                e(q),
                e(p),
                e(a)
            )
        })
        .collect();
    let totals: String = doc
        .totals
        .iter()
        .map(|(label, value, bold)| {
            let (open, close) = if *bold { ("<strong>", "</strong>") } else { ("", "") };
            format!(
                "<tr><td colspan=3 class=n>{open}{}{close}</td><td class=n>{open}{}{close}</td></tr>",
                e(label),
                e(value)
            )
        })
        .collect();
    let notes = doc
        .notes
        .as_deref()
        .map(|n| format!("<h2>Notes</h2><p>{}</p>", e(n).replace('\n', "<br>")))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=robots content=noindex>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style>body{{font:15px/1.45 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         table{{border-collapse:collapse;width:100%}}td,th{{padding:.3rem .4rem;text-align:left;vertical-align:top}}\
         .n{{text-align:right;white-space:nowrap}}.items td{{border-top:1px solid #ddd}}.parties{{display:flex;gap:3rem}}\
         </style></head><body><h1>{title}</h1><div class=parties><div><h2>From</h2><p>{from}</p></div>\
         <div><h2>Bill to</h2><p>{to}</p></div></div><table>{facts}</table>\
         <table class=items><tr><th>Description</th><th class=n>Quantity</th><th class=n>Unit price</th>\
         <th class=n>Amount</th></tr>{lines}{totals}</table>{notes}<p><a href=\"?format=pdf\">PDF</a></p></body></html>",
        title = e(&title),
        from = list(&doc.from),
        to = list(&doc.to),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_shaped_text_is_looked_up() {
        assert!(is_token(&crypto::random_token()));
        for bad in ["", "short", &"a".repeat(44), &format!("{}\0", "a".repeat(42)), &format!("{}/", "a".repeat(42))] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_page_escapes_what_people_wrote() {
        let doc = InvoiceDocument {
            title: "Invoice".into(),
            number: Some("INV-00001".into()),
            from: vec!["<script>alert(1)</script>".into()],
            to: vec!["Tom & Jerry \"Ltd\"".into()],
            lines: vec![["<b>x</b>".into(), "1".into(), "$1.00".into(), "$1.00".into()]],
            notes: Some("a\n<img src=x>".into()),
            ..InvoiceDocument::default()
        };
        let html = page(&doc);
        assert!(!html.contains("<script>") && !html.contains("<b>x") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("Tom &amp; Jerry &quot;Ltd&quot;"));
        assert!(html.contains("a<br>&lt;img"));
    }
}
