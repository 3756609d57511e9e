//! Customers: the buyers a platform (or a connected account) charges.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::address::{Address, AddressPatch, Shipping};
use super::docs::{self, NewDoc};
use super::events;
use super::metadata::{self, Metadata, MetadataChange};
use super::objects::CUSTOMER;
use super::{Ctx, Result};
use crate::ids;
use crate::store::Tx;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub object: String,
    pub address: Option<Address>,
    pub balance: i64,
    pub created: i64,
    pub currency: Option<String>,
    pub default_source: Option<String>,
    pub delinquent: bool,
    pub description: Option<String>,
    pub discount: Option<Value>,
    pub email: Option<String>,
    pub invoice_prefix: String,
    pub invoice_settings: InvoiceSettings,
    pub livemode: bool,
    pub metadata: Metadata,
    pub name: Option<String>,
    pub next_invoice_sequence: i64,
    pub phone: Option<String>,
    pub preferred_locales: Vec<String>,
    pub shipping: Option<Shipping>,
    pub tax_exempt: String,
    pub test_clock: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceSettings {
    pub custom_fields: Option<Value>,
    pub default_payment_method: Option<String>,
    pub footer: Option<String>,
    pub rendering_options: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeletedCustomer {
    pub id: String,
    pub object: &'static str,
    pub deleted: bool,
}

/// Fields a create or an update may set. `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub address: Option<Option<AddressPatch>>,
    pub balance: Option<i64>,
    pub description: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub invoice_prefix: Option<String>,
    pub metadata: MetadataChange,
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub preferred_locales: Option<Vec<String>>,
    pub shipping: Option<Option<Shipping>>,
    pub tax_exempt: Option<String>,
}

fn invoice_prefix_for(id: &str) -> String {
    // Stripe derives an 8-character uppercase prefix per customer.
    id.trim_start_matches("cus_")
        .chars()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn apply(customer: &mut Customer, changes: CustomerChanges) -> Result<()> {
    if let Some(address) = changes.address {
        customer.address = address.map(|patch| {
            let mut current = customer.address.take().unwrap_or_default();
            patch.apply(&mut current);
            current
        });
    }
    if let Some(balance) = changes.balance {
        customer.balance = balance;
    }
    let texts = [
        (changes.description, &mut customer.description),
        (changes.email, &mut customer.email),
        (changes.name, &mut customer.name),
        (changes.phone, &mut customer.phone),
    ];
    for (change, slot) in texts {
        if let Some(value) = change {
            *slot = value;
        }
    }
    if let Some(prefix) = changes.invoice_prefix {
        customer.invoice_prefix = prefix;
    }
    if let Some(locales) = changes.preferred_locales {
        customer.preferred_locales = locales;
    }
    if let Some(shipping) = changes.shipping {
        customer.shipping = shipping;
    }
    if let Some(tax_exempt) = changes.tax_exempt {
        customer.tax_exempt = tax_exempt;
    }
    metadata::apply(&mut customer.metadata, changes.metadata)
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, changes: CustomerChanges) -> Result<Customer> {
    let id = ids::new_id("cus");
    let mut customer = Customer {
        invoice_prefix: invoice_prefix_for(&id),
        id,
        object: CUSTOMER.to_string(),
        address: None,
        balance: 0,
        created: ctx.now,
        currency: None,
        default_source: None,
        delinquent: false,
        description: None,
        discount: None,
        email: None,
        invoice_settings: InvoiceSettings::default(),
        livemode: ctx.scope.livemode,
        metadata: Metadata::new(),
        name: None,
        next_invoice_sequence: 1,
        phone: None,
        preferred_locales: Vec::new(),
        shipping: None,
        tax_exempt: "none".to_string(),
        test_clock: None,
    };
    apply(&mut customer, changes)?;
    let new = NewDoc {
        id: &customer.id,
        object: CUSTOMER,
        scope: &ctx.scope,
        parent: None,
    };
    docs::insert(tx, ctx, new, &customer)?;
    events::record(tx, ctx, "customer.created", &customer)?;
    Ok(customer)
}

/// A customer, or the deleted stub of one, as Stripe answers a retrieve.
pub enum Retrieved {
    Live(Box<Customer>),
    Deleted(DeletedCustomer),
}

pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Retrieved> {
    match docs::find(tx, &ctx.scope, CUSTOMER, id)? {
        Some(doc) if doc.deleted => Ok(Retrieved::Deleted(deleted_stub(id))),
        Some(doc) => Ok(Retrieved::Live(Box::new(docs::from_json(&doc)?))),
        None => Err(super::Error::no_such("customer", id)),
    }
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, changes: CustomerChanges) -> Result<Customer> {
    let (_, mut customer): (_, Customer) =
        docs::load_for_update(tx, &ctx.scope, CUSTOMER, "customer", id)?;
    let before = customer.clone();
    apply(&mut customer, changes)?;
    docs::save(tx, id, &customer)?;
    events::record_update(tx, ctx, "customer.updated", &before, &customer)?;
    Ok(customer)
}

fn deleted_stub(id: &str) -> DeletedCustomer {
    DeletedCustomer {
        id: id.to_string(),
        object: CUSTOMER,
        deleted: true,
    }
}

pub fn delete(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<DeletedCustomer> {
    let (_, customer): (_, Customer) =
        docs::load_for_update(tx, &ctx.scope, CUSTOMER, "customer", id)?;
    let stub = deleted_stub(id);
    docs::mark_deleted(tx, id, &stub)?;
    events::record(tx, ctx, "customer.deleted", &customer)?;
    Ok(stub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_prefix_is_eight_uppercase_characters() {
        let prefix = invoice_prefix_for(&ids::new_id("cus"));
        assert_eq!(prefix.len(), 8);
        assert_eq!(prefix, prefix.to_ascii_uppercase());
    }
}
