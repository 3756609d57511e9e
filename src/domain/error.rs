//! The domain's one error type. It speaks Stripe's vocabulary (`code`, `param`) because the
//! domain is Stripe's model; the HTTP status is chosen at the edge from `kind`.

use serde_json::{Map, Value};

use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    NotFound,
    Permission,
    Card,
    Conflict,
    Internal,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub message: String,
    /// Further members of Stripe's error (`decline_code`, `payment_intent`...), boxed to keep
    /// `Result` small.
    pub extra: Option<Box<Map<String, Value>>>,
    /// The command's changes stand although it answers with an error (a card decline records
    /// the failed charge and the payment intent's `last_payment_error`).
    pub keep_changes: bool,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            code: None,
            param: None,
            message: message.into(),
            extra: None,
            keep_changes: false,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(message).param(param)
    }

    /// `No such customer: 'cus_x'`, as Stripe words it, with `param` = `id` by default.
    pub fn no_such(what: &str, id: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("No such {what}: '{id}'"))
            .code("resource_missing")
            .param("id")
    }

    pub fn keeping_changes(mut self) -> Self {
        self.keep_changes = true;
        self
    }

    /// Adds a member to Stripe's error object (`decline_code`, `payment_intent`...).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value);
        self
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store error");
        Error::new(
            ErrorKind::Internal,
            "An error occurred with our storage. Please retry the request.",
        )
    }
}
