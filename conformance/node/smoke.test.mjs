// Smoke test: the official Stripe Node SDK (npm stripe 23.1.0) against a running Sluice server.
// Run: SLUICE_API_BASE=http://127.0.0.1:4242 SLUICE_API_KEY=sk_test_... node --test smoke.test.mjs
// (scripts/test.sh does this for both stores.)

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';

const base = process.env.SLUICE_API_BASE;
const key = process.env.SLUICE_API_KEY;
if (!base || !key) {
  throw new Error('set SLUICE_API_BASE and SLUICE_API_KEY');
}
const url = new URL(base);

// CONVENTIONS.md 1: a non-default host replaces all base addresses (api, files, connect)
const stripe = new Stripe(key, {
  host: url.hostname,
  port: Number(url.port || 80),
  protocol: url.protocol.replace(':', ''),
  maxNetworkRetries: 2,
});

const uid = () => 'n' + randomUUID().replace(/-/g, '').slice(0, 12);

describe('stripe-node against sluice', () => {
  test('create and retrieve a customer', async () => {
    const email = `${uid()}@example.com`;
    const c = await stripe.customers.create({
      email,
      name: 'Node Customer',
      metadata: { origin: 'node' },
    });
    assert.match(c.id, /^cus_/);
    assert.equal(c.object, 'customer');
    assert.equal(c.email, email);
    assert.equal(c.livemode, false);
    assert.deepEqual(c.metadata, { origin: 'node' });
    assert.match(c.lastResponse.requestId, /^req_/);
    const got = await stripe.customers.retrieve(c.id);
    assert.equal(got.id, c.id);
    assert.equal(got.name, 'Node Customer');
  });

  test('create an express account (controller mapping)', async () => {
    const a = await stripe.accounts.create({
      type: 'express',
      country: 'US',
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    });
    assert.match(a.id, /^acct_/);
    assert.equal(a.object, 'account');
    assert.equal(a.type, 'express');
    assert.equal(a.controller.stripe_dashboard.type, 'express');
    assert.equal(a.controller.requirement_collection, 'stripe');
    assert.equal(a.controller.losses.payments, 'application');
    assert.equal(a.controller.fees.payer, 'application_express');
    assert.equal(a.charges_enabled, false);
    const caps = await stripe.accounts.listCapabilities(a.id);
    assert.deepEqual(
      caps.data.filter((x) => x.requested).map((x) => x.id).sort(),
      ['card_payments', 'transfers'],
    );
  });

  test('list with autoPagingEach over several pages', async () => {
    const email = `${uid()}@example.com`;
    const created = [];
    for (let i = 0; i < 5; i++) {
      created.push((await stripe.customers.create({ email, name: `c${i}` })).id);
    }
    const seen = [];
    await stripe.customers.list({ email, limit: 2 }).autoPagingEach((c) => {
      seen.push(c.id);
    });
    assert.deepEqual(seen, [...created].reverse());
    const arr = await stripe.customers.list({ email, limit: 2 }).autoPagingToArray({ limit: 10 });
    assert.equal(arr.length, 5);
    const page = await stripe.customers.list({ email, limit: 2 });
    assert.equal(page.object, 'list');
    assert.equal(page.url, '/v1/customers');
    assert.equal(page.has_more, true);
  });

  test('unknown parameter -> StripeInvalidRequestError parameter_unknown', async () => {
    await assert.rejects(
      stripe.customers.create({ email: `${uid()}@example.com`, favourite_colour: 'blue' }),
      (err) => {
        assert.equal(err.type, 'StripeInvalidRequestError');
        assert.equal(err.statusCode, 400);
        assert.equal(err.code, 'parameter_unknown');
        assert.equal(err.param, 'favourite_colour');
        assert.equal(err.raw.type, 'invalid_request_error');
        assert.match(err.requestId, /^req_/);
        return true;
      },
    );
  });

  test('resource_missing on an unknown id', async () => {
    await assert.rejects(stripe.customers.retrieve('cus_missing000'), (err) => {
      assert.equal(err.type, 'StripeInvalidRequestError');
      assert.equal(err.statusCode, 404);
      assert.equal(err.code, 'resource_missing');
      assert.equal(err.param, 'id');
      return true;
    });
  });

  test('idempotent replay and key reuse with other params', async () => {
    const email = `${uid()}@example.com`;
    const idempotencyKey = `node-${randomUUID()}`;
    const first = await stripe.customers.create({ email }, { idempotencyKey });
    const second = await stripe.customers.create({ email }, { idempotencyKey });
    assert.equal(second.id, first.id);
    assert.equal(second.lastResponse.headers['idempotent-replayed'], 'true');
    assert.equal(second.lastResponse.headers['original-request'], first.lastResponse.requestId);
    assert.equal(second.lastResponse.idempotencyKey, idempotencyKey);
    await assert.rejects(
      stripe.customers.create({ email, name: 'different' }, { idempotencyKey }),
      (err) => {
        assert.equal(err.type, 'StripeIdempotencyError');
        assert.equal(err.statusCode, 400);
        return true;
      },
    );
    const list = await stripe.customers.list({ email });
    assert.deepEqual(list.data.map((c) => c.id), [first.id]);
  });

  test('stripeAccount option scopes requests to a connected account', async () => {
    const a = await stripe.accounts.create({
      type: 'custom',
      country: 'US',
      capabilities: { transfers: { requested: true } },
    });
    const me = await stripe.accounts.retrieveCurrent({}, { stripeAccount: a.id });
    assert.equal(me.id, a.id);
    const email = `${uid()}@example.com`;
    const c = await stripe.customers.create({ email }, { stripeAccount: a.id });
    const onPlatform = await stripe.customers.list({ email });
    assert.deepEqual(onPlatform.data, []);
    const onConnected = await stripe.customers.list({ email }, { stripeAccount: a.id });
    assert.deepEqual(onConnected.data.map((x) => x.id), [c.id]);
  });
});
