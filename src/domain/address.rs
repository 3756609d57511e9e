//! Postal addresses and the small value objects several resources share.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
}

/// A partial update of an address: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressPatch {
    pub city: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub line1: Option<Option<String>>,
    pub line2: Option<Option<String>>,
    pub postal_code: Option<Option<String>>,
    pub state: Option<Option<String>>,
}

impl AddressPatch {
    pub fn apply(self, address: &mut Address) {
        let fields = [
            (self.city, &mut address.city),
            (self.country, &mut address.country),
            (self.line1, &mut address.line1),
            (self.line2, &mut address.line2),
            (self.postal_code, &mut address.postal_code),
            (self.state, &mut address.state),
        ];
        for (change, slot) in fields {
            if let Some(value) = change {
                *slot = value;
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shipping {
    pub address: Address,
    pub name: String,
    pub phone: Option<String>,
}

/// A date of birth as Stripe shapes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dob {
    pub day: Option<i64>,
    pub month: Option<i64>,
    pub year: Option<i64>,
}
