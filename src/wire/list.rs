//! List parameters (`limit`, `starting_after`, `ending_before`, `created`) and the list envelope.

use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::params::{Params, Result};
use crate::domain::docs::PageRequest;
use crate::store::CreatedRange;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: i64 = 100;

/// Reads the parameters every list endpoint takes.
pub fn page_request(params: &mut Params) -> Result<PageRequest> {
    let limit = match params.int("limit")? {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => limit as usize,
        Some(limit) => {
            return Err(ApiError::invalid_request(format!(
                "Invalid limit: must be between 1 and {MAX_LIMIT} (got {limit})."
            ))
            .with_param("limit"))
        }
    };
    let starting_after = params.string("starting_after")?.filter(|s| !s.is_empty());
    let ending_before = params.string("ending_before")?.filter(|s| !s.is_empty());
    if starting_after.is_some() && ending_before.is_some() {
        return Err(ApiError::invalid_request(
            "You may only specify one of these parameters: starting_after, ending_before.",
        )
        .with_param("ending_before"));
    }
    Ok(PageRequest {
        limit,
        starting_after,
        ending_before,
        created: created_range(params, "created")?,
        filters: Vec::new(),
    })
}

/// `created=123` (exactly) or `created[gt|gte|lt|lte]=123`.
pub fn created_range(params: &mut Params, key: &str) -> Result<CreatedRange> {
    if !params.contains(key) {
        return Ok(CreatedRange::default());
    }
    if params.is_hash(key) {
        let Some(mut range) = params.map(key)? else {
            return Ok(CreatedRange::default());
        };
        let bounds = CreatedRange {
            gt: range.int("gt")?,
            gte: range.int("gte")?,
            lt: range.int("lt")?,
            lte: range.int("lte")?,
        };
        range.finish()?;
        return Ok(bounds);
    }
    Ok(match params.int(key)? {
        Some(at) => CreatedRange {
            gte: Some(at),
            lte: Some(at),
            ..Default::default()
        },
        None => CreatedRange::default(),
    })
}

/// Stripe's list envelope.
#[derive(Debug, Serialize)]
pub struct List {
    pub object: &'static str,
    pub data: Vec<Value>,
    pub has_more: bool,
    pub url: String,
}

impl List {
    pub fn new(url: impl Into<String>, data: Vec<Value>, has_more: bool) -> Self {
        List {
            object: "list",
            data,
            has_more,
            url: url.into(),
        }
    }
}
