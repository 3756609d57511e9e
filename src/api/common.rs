//! Parameter readers several resources share.

use crate::domain::address::{AddressPatch, Shipping};
use crate::domain::metadata::MetadataChange;
use crate::wire::params::{Params, Patch, Result};
use crate::wire::shape::{Field, Shape};
use crate::wire::ApiError;

pub const ADDRESS: Shape = &[
    ("city", Field::Str(200)),
    ("country", Field::Str(2)),
    ("line1", Field::Str(200)),
    ("line2", Field::Str(200)),
    ("postal_code", Field::Str(20)),
    ("state", Field::Str(200)),
];

pub fn metadata(params: &mut Params) -> Result<MetadataChange> {
    Ok(match params.patch_map("metadata")? {
        Patch::Absent => MetadataChange::Keep,
        Patch::Unset => MetadataChange::Clear,
        Patch::Set(map) => MetadataChange::Merge(map.into_string_pairs()?),
    })
}

/// `None` keeps, `Some(None)` clears, `Some(Some(text))` sets.
pub fn text(params: &mut Params, key: &str, max: usize) -> Result<Option<Option<String>>> {
    Ok(match params.patch_string(key, max)? {
        Patch::Absent => None,
        Patch::Unset => Some(None),
        Patch::Set(value) => Some(Some(value)),
    })
}

fn address_fields(mut map: Params) -> Result<AddressPatch> {
    let patch = AddressPatch {
        city: text(&mut map, "city", 200)?,
        country: text(&mut map, "country", 2)?,
        line1: text(&mut map, "line1", 200)?,
        line2: text(&mut map, "line2", 200)?,
        postal_code: text(&mut map, "postal_code", 20)?,
        state: text(&mut map, "state", 200)?,
    };
    map.finish()?;
    Ok(patch)
}

pub fn address(params: &mut Params, key: &str) -> Result<Option<Option<AddressPatch>>> {
    Ok(match params.patch_map(key)? {
        Patch::Absent => None,
        Patch::Unset => Some(None),
        Patch::Set(map) => Some(Some(address_fields(map)?)),
    })
}

pub fn shipping(params: &mut Params) -> Result<Option<Option<Shipping>>> {
    Ok(match params.patch_map("shipping")? {
        Patch::Absent => None,
        Patch::Unset => Some(None),
        Patch::Set(mut map) => {
            let name = map.required_string("name")?;
            let phone = map.bounded_string("phone", 20)?.filter(|p| !p.is_empty());
            let Some(address) = address(&mut map, "address")? else {
                return Err(ApiError::parameter_missing("shipping[address]"));
            };
            map.finish()?;
            let mut full = crate::domain::address::Address::default();
            if let Some(patch) = address {
                patch.apply(&mut full);
            }
            Some(Some(Shipping {
                address: full,
                name,
                phone,
            }))
        }
    })
}

/// Reads a required path id and rejects obviously malformed ones before touching the store.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 255 {
        return Err(ApiError::invalid_request("Invalid id.").with_param("id"));
    }
    Ok(())
}
