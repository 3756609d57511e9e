//! Durations typed on the command line: `30s`, `15m`, `2h`, `2d`, `1w`, combined (`1d12h`), or
//! bare seconds (`90`).

const UNITS_SECS: &[(char, u64)] = &[
    ('s', 1),
    ('m', 60),
    ('h', 3_600),
    ('d', 86_400),
    ('w', 604_800),
];

/// The duration in seconds; zero and overflowing durations are refused.
pub fn parse_secs(text: &str) -> Result<u64, String> {
    let explain = || {
        format!("`{text}` is not a duration: write a number with a unit, e.g. 30s, 15m, 2h, 2d, 1w (or 1d12h)")
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(explain());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = trimmed.parse().map_err(|_| explain())?;
        return positive(seconds, text);
    }
    let mut total_secs: u64 = 0;
    let mut digits = String::new();
    for character in trimmed.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit_secs = UNITS_SECS
            .iter()
            .find(|(unit, _)| *unit == character.to_ascii_lowercase())
            .map(|(_, secs)| *secs)
            .ok_or_else(explain)?;
        if digits.is_empty() {
            return Err(explain());
        }
        let count: u64 = digits.parse().map_err(|_| explain())?;
        digits.clear();
        total_secs = count
            .checked_mul(unit_secs)
            .and_then(|secs| total_secs.checked_add(secs))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    if !digits.is_empty() {
        return Err(explain());
    }
    positive(total_secs, text)
}

fn positive(seconds: u64, text: &str) -> Result<u64, String> {
    if seconds == 0 {
        return Err(format!("`{text}` is zero: the clock only moves forward"));
    }
    if seconds > i64::MAX as u64 {
        return Err(format!("`{text}` is too long a duration"));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations() {
        assert_eq!(parse_secs("30s"), Ok(30));
        assert_eq!(parse_secs("15m"), Ok(900));
        assert_eq!(parse_secs("2h"), Ok(7_200));
        assert_eq!(parse_secs("2d"), Ok(172_800));
        assert_eq!(parse_secs("1w"), Ok(604_800));
        assert_eq!(parse_secs("1d12h"), Ok(129_600));
        assert_eq!(parse_secs("90"), Ok(90));
        assert_eq!(parse_secs(" 2D "), Ok(172_800));
    }

    #[test]
    fn bad_input_is_a_message_not_a_panic() {
        for text in [
            "",
            "d",
            "2",
            "2x",
            "h2",
            "-1d",
            "1.5h",
            "2d3",
            "0s",
            "0",
            "99999999999999999999w",
        ] {
            let result = parse_secs(text);
            if text == "2" {
                assert_eq!(result, Ok(2));
                continue;
            }
            assert!(result.is_err(), "{text} parsed as {result:?}");
        }
        assert!(parse_secs("0s").unwrap_err().contains("zero"));
        assert!(parse_secs("9999999999999999w")
            .unwrap_err()
            .contains("too long"));
    }
}
