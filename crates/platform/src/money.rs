//! Money as the API speaks it: a decimal string plus an ISO 4217 currency, stored as an integer
//! count of the currency's minor unit (cents, yen, fils…). Never a float, so sums are exact.

/// Why an amount or currency was refused (a message for the field error).
pub type MoneyError = &'static str;

/// The canonical code and minor-unit exponent of an ISO 4217 currency (`usd` → `USD`, 2).
pub fn currency(code: &str) -> Result<(&'static str, u32), MoneyError> {
    let found = iso_currency::Currency::from_code(&code.trim().to_ascii_uppercase())
        .ok_or("must be an ISO 4217 currency code such as USD or EUR")?;
    // Funds and precious metals have no minor unit; they are not money one invoices in.
    let exponent = found.exponent().ok_or("must be a currency with a minor unit")?;
    Ok((found.code(), u32::from(exponent)))
}

/// The number of minor-unit digits of `code` (2 for JPY's 0, KWD's 3 and so on), or 2 for a
/// code that is not a currency with a minor unit: what an amount stored in it is shown with.
pub fn exponent(code: &str) -> u32 {
    currency(code).map_or(2, |(_, e)| e)
}

/// Parses a non-negative decimal string (`"12.5"`, `"1200"`, `"0.99"`) into minor units of a
/// currency with `exponent` decimals; more decimals than the currency has are refused.
pub fn parse_amount(text: &str, exponent: u32) -> Result<i64, MoneyError> {
    const SHAPE: MoneyError = "must be a non-negative decimal string such as \"12.50\"";
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SHAPE);
    }
    if text.contains('.') && fraction.is_empty() {
        return Err(SHAPE);
    }
    if fraction.len() > exponent as usize {
        return Err("has more decimals than the currency allows");
    }
    let scale = 10i64.pow(exponent);
    let whole: i64 = whole.parse().map_err(|_| "is too large")?;
    let padded = format!("{fraction:0<width$}", width = exponent as usize);
    let fraction: i64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| SHAPE)? };
    whole.checked_mul(scale).and_then(|w| w.checked_add(fraction)).ok_or("is too large")
}

/// Formats minor units with the currency's decimals (`1250`, 2 → `"12.50"`).
pub fn format_amount(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = exponent as usize)
}

/// How a currency's amounts are usually written where it is used: its symbol, whether the
/// symbol comes first, and the group and decimal separators. Currencies not listed are written
/// `1,234.56 XYZ`, which every reader understands.
fn style(code: &str) -> (&'static str, bool, &'static str, &'static str) {
    match code {
        "USD" => ("$", true, ",", "."),
        "CAD" => ("CA$", true, ",", "."),
        "AUD" => ("A$", true, ",", "."),
        "NZD" => ("NZ$", true, ",", "."),
        "GBP" => ("£", true, ",", "."),
        "JPY" => ("¥", true, ",", "."),
        "CNY" => ("CN¥", true, ",", "."),
        "INR" => ("₹", true, ",", "."),
        "KRW" => ("₩", true, ",", "."),
        "ILS" => ("₪", true, ",", "."),
        "EUR" => ("€", false, ".", ","),
        "CHF" => ("CHF", true, "’", "."),
        "SEK" | "NOK" | "DKK" => ("kr", false, "\u{a0}", ","),
        "PLN" => ("zł", false, "\u{a0}", ","),
        "CZK" => ("Kč", false, "\u{a0}", ","),
        "BRL" => ("R$", true, ".", ","),
        _ => ("", true, ",", "."),
    }
}

/// Minor units written for people in the conventions of the currency (`123456`, `EUR` →
/// `1.234,56 €`; `USD` → `$1,234.56`; `KWD` → `KWD 1,234.560`), for documents such as invoices.
/// The API itself always speaks decimal strings.
pub fn display(minor: i64, code: &str) -> String {
    let exponent = exponent(code);
    let plain = format_amount(minor.abs(), exponent);
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    let (symbol, before, group, decimal) = style(code);
    let digits: Vec<char> = whole.chars().collect();
    let mut grouped = String::new();
    for (i, digit) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push_str(group);
        }
        grouped.push(*digit);
    }
    if !fraction.is_empty() {
        grouped.push_str(decimal);
        grouped.push_str(fraction);
    }
    let sign = if minor < 0 { "-" } else { "" };
    match (symbol, before) {
        ("", _) => format!("{sign}{grouped}\u{a0}{code}"),
        (symbol, true) if symbol.chars().all(char::is_alphabetic) => format!("{sign}{symbol}\u{a0}{grouped}"),
        (symbol, true) => format!("{sign}{symbol}{grouped}"),
        (symbol, false) => format!("{sign}{grouped}\u{a0}{symbol}"),
    }
}

/// `numerator / denominator` rounded half to even ("banker's rounding": 0.5 → 0, 1.5 → 2,
/// 2.5 → 2), the rounding of every computed amount, so that many roundings do not drift one way.
/// `denominator` must be positive.
pub fn div_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator.div_euclid(denominator);
    let twice_rest = 2 * numerator.rem_euclid(denominator);
    if twice_rest > denominator || (twice_rest == denominator && quotient % 2 != 0) { quotient + 1 } else { quotient }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_displayed_in_their_currencys_conventions() {
        assert_eq!(display(123_456, "USD"), "$1,234.56");
        assert_eq!(display(123_456, "EUR"), "1.234,56\u{a0}€");
        assert_eq!(display(1_234_567, "JPY"), "¥1,234,567");
        assert_eq!(display(1_234_560, "KWD"), "1,234.560\u{a0}KWD");
        assert_eq!(display(100_000_000, "CHF"), "CHF\u{a0}1’000’000.00");
        assert_eq!(display(5, "GBP"), "£0.05");
        assert_eq!(display(-150, "USD"), "-$1.50");
        assert_eq!(display(99_900, "SEK"), "999,00\u{a0}kr");
    }

    #[test]
    fn half_even_rounds_ties_to_even_both_signs() {
        let cases = [(5, 10, 0), (15, 10, 2), (25, 10, 2), (35, 10, 4), (14, 10, 1), (16, 10, 2)];
        for (n, d, q) in cases {
            assert_eq!(div_half_even(n, d), q, "{n}/{d}");
            assert_eq!(div_half_even(-n, d), -q, "-{n}/{d}");
        }
        assert_eq!(div_half_even(7, 1), 7);
        assert_eq!(div_half_even(0, 3), 0);
    }

    #[test]
    fn currencies_and_exponents() {
        assert_eq!(currency("usd").unwrap(), ("USD", 2));
        assert_eq!(currency("JPY").unwrap(), ("JPY", 0));
        assert_eq!(currency("KWD").unwrap(), ("KWD", 3));
        assert!(currency("XXX").is_err() || currency("XXX").unwrap().1 == 0);
        assert!(currency("ABC").is_err());
    }

    #[test]
    fn amounts_round_trip_exactly() {
        assert_eq!(parse_amount("12.5", 2), Ok(1250));
        assert_eq!(parse_amount("0.99", 2), Ok(99));
        assert_eq!(parse_amount("1200", 0), Ok(1200));
        assert_eq!(format_amount(1250, 2), "12.50");
        assert_eq!(format_amount(5, 3), "0.005");
        assert_eq!(format_amount(1200, 0), "1200");
        assert!(parse_amount("1.234", 2).is_err());
        assert!(parse_amount("-1", 2).is_err());
        assert!(parse_amount("1e3", 2).is_err());
        assert!(parse_amount("1.", 2).is_err());
        assert!(parse_amount("", 2).is_err());
        assert!(parse_amount("99999999999999999999", 2).is_err());
    }
}
