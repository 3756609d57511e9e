//! Object ids: a Stripe prefix plus a fixed-width base62 rendering of a time-ordered 128-bit value,
//! so that ids sort in creation order (lists page by id) and never collide across processes.
//!
//! Layout of the 128 bits: 48 bits of milliseconds since the Unix epoch, 16 bits of a per-process
//! sequence that keeps ids strictly increasing within one millisecond, 64 random bits.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^22 > 2^128, so 22 digits hold every value.
const WIDTH: usize = 22;

/// Upper 64 bits of the last id: (millis << 16) | sequence.
static LAST_HIGH: AtomicU64 = AtomicU64::new(0);

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn next_high() -> u64 {
    let wall = now_millis() << 16;
    let mut last = LAST_HIGH.load(Ordering::Relaxed);
    loop {
        let next = if wall > last { wall } else { last + 1 };
        match LAST_HIGH.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    // A failure of the OS generator leaves a time-derived seed: ids stay unique through the
    // time-ordered half, only their unpredictability suffers.
    if getrandom::fill(&mut bytes).is_err() {
        return now_millis() ^ 0x9E37_79B9_7F4A_7C15;
    }
    u64::from_le_bytes(bytes) | 1
}

/// xorshift64*: ids need uniqueness and spread, not secrecy (keys and secrets use `secret_token`).
fn next_random() -> u64 {
    RNG.with(|cell| {
        let mut x = cell.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// 62^10, the largest power of 62 whose digits a `u64` remainder holds.
const BASE62_10: u128 = 839_299_365_868_340_224;

fn push_base62(out: &mut String, value: u128, width: usize) {
    let mut digits = [b'0'; WIDTH];
    // Two 128-bit divisions split the value into runs of ten digits that 64-bit arithmetic
    // renders (a 128-bit division per digit was most of the cost of an id).
    let mut rest = value;
    for run in digits.rchunks_mut(10) {
        let mut part = (rest % BASE62_10) as u64;
        rest /= BASE62_10;
        for slot in run.iter_mut().rev() {
            *slot = ALPHABET[(part % 62) as usize];
            part /= 62;
        }
    }
    // Fixed width keeps lexicographic order equal to numeric order.
    let start = WIDTH - width;
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// A new id such as `cus_0Fq3...`, strictly greater than every id this process made before.
pub fn new_id(prefix: &str) -> String {
    let value = ((next_high() as u128) << 64) | next_random() as u128;
    let mut out = String::with_capacity(prefix.len() + 1 + WIDTH);
    out.push_str(prefix);
    out.push('_');
    push_base62(&mut out, value, WIDTH);
    out
}

/// A mark in the order of ids: every id made after this call is greater than `first_id_of` it.
pub fn mark() -> u64 {
    next_high()
}

/// The smallest id with `prefix` that `new_id` could make at or after `mark`.
pub fn first_id_of(prefix: &str, mark: u64) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + WIDTH);
    out.push_str(prefix);
    out.push('_');
    push_base62(&mut out, (mark as u128) << 64, WIDTH);
    out
}

/// The smallest id `new_id` could have made at `millis` (unix milliseconds): everything below it
/// was made earlier, which lets old documents be found by id range alone.
pub fn first_id_at(prefix: &str, millis: u64) -> String {
    let value = ((millis as u128) << 80) & !((1u128 << 80) - 1);
    let mut out = String::with_capacity(prefix.len() + 1 + WIDTH);
    out.push_str(prefix);
    out.push('_');
    push_base62(&mut out, value, WIDTH);
    out
}

/// A secret of `bytes` random bytes from the OS generator, base62, after `prefix`
/// (API keys, webhook secrets, client secrets).
pub fn secret_token(prefix: &str, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    if getrandom::fill(&mut raw).is_err() {
        // Never hand out a guessable secret.
        panic!("the operating system's random generator failed");
    }
    let mut out = String::with_capacity(prefix.len() + bytes * 2);
    out.push_str(prefix);
    for chunk in raw.chunks(16) {
        let mut value: u128 = 0;
        for b in chunk {
            value = (value << 8) | *b as u128;
        }
        // Digits needed for this chunk: 8 bits per byte over log2(62) ~ 5.954 bits per digit.
        let width = (chunk.len() * 8 * 1000).div_ceil(5954);
        push_base62(&mut out, value, width);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digits one division at a time: what `push_base62` must match.
    fn base62_digit_by_digit(mut value: u128) -> String {
        let mut digits = [b'0'; WIDTH];
        for slot in digits.iter_mut().rev() {
            *slot = ALPHABET[(value % 62) as usize];
            value /= 62;
        }
        String::from_utf8(digits.to_vec()).unwrap()
    }

    #[test]
    fn base62_runs_match_digit_by_digit() {
        let mut samples = vec![
            0,
            1,
            61,
            62,
            u64::MAX as u128,
            BASE62_10 - 1,
            BASE62_10,
            u128::MAX,
        ];
        samples
            .extend((0..10_000).map(|_| ((next_random() as u128) << 64) | next_random() as u128));
        for value in samples {
            let mut out = String::new();
            push_base62(&mut out, value, WIDTH);
            assert_eq!(out, base62_digit_by_digit(value), "{value}");
            for width in [1, 11, 21] {
                let mut short = String::new();
                push_base62(&mut short, value, width);
                assert_eq!(short, out[WIDTH - width..]);
            }
        }
    }

    #[test]
    fn ids_are_strictly_increasing_and_fixed_width() {
        let mut last = new_id("cus");
        for _ in 0..10_000 {
            let next = new_id("cus");
            assert!(next > last, "{next} <= {last}");
            assert_eq!(next.len(), 4 + WIDTH);
            last = next;
        }
    }

    #[test]
    fn first_id_at_bounds_ids_of_that_time() {
        let before = first_id_at("evt", now_millis());
        let made = new_id("evt");
        let after = first_id_at("evt", now_millis() + 1);
        assert!(before <= made && made < after, "{before} {made} {after}");
    }

    #[test]
    fn a_mark_lies_between_the_ids_made_before_and_after_it() {
        let before = new_id("evt");
        let mark = mark();
        let after = new_id("evt");
        let bound = first_id_of("evt", mark);
        assert!(before < bound && bound < after, "{before} {bound} {after}");
    }

    #[test]
    fn secrets_differ() {
        assert_ne!(secret_token("sk_test_", 24), secret_token("sk_test_", 24));
        assert!(secret_token("whsec_", 32).starts_with("whsec_"));
    }
}
