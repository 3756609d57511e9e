//! Platforms and their API keys. A key is stored only as its SHA-256 digest: the server can
//! recognise a key but never show it again, so a new key is printed once, when it is made.

use sha2::{Digest, Sha256};

use super::{accounts, Result};
use crate::ids;
use crate::store::{ApiKeyRecord, KeyKind, Tx};

pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Keys made on this start, to print once.
#[derive(Debug, Default)]
pub struct NewKeys {
    pub platform: String,
    pub ordinal: usize,
    pub keys: Vec<(String, String)>,
}

fn store_key(
    tx: &mut dyn Tx,
    platform: &str,
    livemode: bool,
    kind: KeyKind,
    key: &str,
    now: i64,
) -> Result<()> {
    let record = ApiKeyRecord {
        hash: key_digest(key).to_vec(),
        platform: platform.to_string(),
        livemode,
        kind,
    };
    Ok(tx.set_api_key(&record, now)?)
}

/// Makes sure the store has a platform for each given test secret key (at least one platform in
/// all), and that the Nth given key is the Nth platform's test secret key.
pub fn bootstrap(tx: &mut dyn Tx, secret_keys: &[String], now: i64) -> Result<Vec<NewKeys>> {
    let mut platforms = tx.platforms()?;
    let wanted = secret_keys.len().max(1);
    let mut made = Vec::new();
    while platforms.len() < wanted {
        let id = ids::new_id("acct");
        let ordinal = platforms.len() + 1;
        tx.insert_platform(&id, ordinal as i64, now)?;
        accounts::new_platform(tx, &id, now)?;
        let mut report = NewKeys {
            platform: id.clone(),
            ordinal,
            keys: Vec::new(),
        };
        for (livemode, mode) in [(false, "test"), (true, "live")] {
            let secret = ids::secret_token(&format!("sk_{mode}_"), 24);
            let publishable = ids::secret_token(&format!("pk_{mode}_"), 24);
            store_key(tx, &id, livemode, KeyKind::Secret, &secret, now)?;
            store_key(tx, &id, livemode, KeyKind::Publishable, &publishable, now)?;
            report.keys.push((format!("{mode} secret key"), secret));
            report
                .keys
                .push((format!("{mode} publishable key"), publishable));
        }
        platforms.push(id);
        made.push(report);
    }
    for (index, key) in secret_keys.iter().enumerate() {
        store_key(tx, &platforms[index], false, KeyKind::Secret, key, now)?;
        // A given key replaces a generated one: do not print the generated one as usable.
        if let Some(report) = made.iter_mut().find(|r| r.platform == platforms[index]) {
            report.keys.retain(|(label, _)| label != "test secret key");
        }
    }
    Ok(made)
}
