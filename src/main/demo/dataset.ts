/**
 * A wedding-planning platform's database, generated on the server: suppliers, clients,
 * weddings, bookings, timelines, vendor messages and payments — tens of MB, with the
 * foreign keys and indexes a real schema has, so backups, amcheck and partial restores
 * have something real to chew on.
 */
export const weddingSchema = [
  `CREATE TABLE suppliers (
     id int PRIMARY KEY,
     name text NOT NULL,
     category text NOT NULL CHECK (category IN ('venue', 'florist', 'catering', 'photography', 'music', 'cake', 'attire', 'transport')),
     city text NOT NULL,
     email text NOT NULL UNIQUE)`,
  `CREATE TABLE clients (
     id int PRIMARY KEY,
     partner_one text NOT NULL,
     partner_two text NOT NULL,
     email text NOT NULL,
     phone text)`,
  `CREATE TABLE weddings (
     id int PRIMARY KEY,
     client_id int NOT NULL REFERENCES clients (id),
     wedding_date date NOT NULL,
     venue_id int REFERENCES suppliers (id),
     guests int NOT NULL,
     budget numeric(10, 2) NOT NULL)`,
  `CREATE TABLE bookings (
     id bigserial PRIMARY KEY,
     wedding_id int NOT NULL REFERENCES weddings (id),
     supplier_id int NOT NULL REFERENCES suppliers (id),
     service text NOT NULL,
     price numeric(10, 2) NOT NULL,
     status text NOT NULL DEFAULT 'confirmed')`,
  `CREATE TABLE timelines (
     id bigserial PRIMARY KEY,
     wedding_id int NOT NULL REFERENCES weddings (id),
     starts_at timestamptz NOT NULL,
     item text NOT NULL)`,
  `CREATE TABLE vendor_messages (
     id bigserial PRIMARY KEY,
     supplier_id int NOT NULL REFERENCES suppliers (id),
     wedding_id int NOT NULL REFERENCES weddings (id),
     sent_at timestamptz NOT NULL DEFAULT now(),
     body text NOT NULL)`,
  `CREATE TABLE payments (
     id bigserial PRIMARY KEY,
     booking_id bigint NOT NULL REFERENCES bookings (id),
     amount numeric(10, 2) NOT NULL,
     paid_at timestamptz NOT NULL,
     method text NOT NULL)`,
];

/** Row generation, scaled by `scale` (1 ≈ 40 MB). */
export function weddingData(scale: number): string[] {
  const n = (count: number): string => String(Math.max(1, Math.round(count * scale)));
  return [
    `INSERT INTO suppliers
       SELECT g, 'Supplier ' || g, (ARRAY['venue','florist','catering','photography','music','cake','attire','transport'])[1 + g % 8],
              (ARRAY['Bath','York','Leeds','Bristol','Oxford','Brighton'])[1 + g % 6], 'vendor' || g || '@example.org'
       FROM generate_series(1, ${n(2000)}) g`,
    `INSERT INTO clients
       SELECT g, 'Alex ' || g, 'Sam ' || g, 'couple' || g || '@example.org', '+44 7700 ' || lpad((g % 1000000)::text, 6, '0')
       FROM generate_series(1, ${n(20000)}) g`,
    `INSERT INTO weddings
       SELECT g, g, date '2026-05-01' + (g % 180), 1 + (g * 8) % ${n(2000)}, 40 + g % 160, 8000 + (g % 40) * 500
       FROM generate_series(1, ${n(20000)}) g`,
    `INSERT INTO bookings (wedding_id, supplier_id, service, price)
       SELECT 1 + g % ${n(20000)}, 1 + (g * 7) % ${n(2000)}, 'service ' || g % 40, 150 + (g % 97) * 25
       FROM generate_series(1, ${n(100000)}) g`,
    `INSERT INTO timelines (wedding_id, starts_at, item)
       SELECT 1 + g % ${n(20000)}, timestamptz '2026-05-01 10:00+00' + (g % 180) * interval '1 day' + (g % 12) * interval '1 hour',
              (ARRAY['ceremony','photos','drinks reception','wedding breakfast','speeches','first dance','evening buffet'])[1 + g % 7]
       FROM generate_series(1, ${n(200000)}) g`,
    `INSERT INTO vendor_messages (supplier_id, wedding_id, sent_at, body)
       SELECT 1 + g % ${n(2000)}, 1 + g % ${n(20000)}, now() - (g % 5000) * interval '1 hour',
              'Hi! Confirming the details for your day: arrival at ' || (8 + g % 10) || ':00, setup ' || (g % 90) || ' minutes, '
              || repeat('looking forward to it. ', 1 + g % 6)
       FROM generate_series(1, ${n(150000)}) g`,
    `INSERT INTO payments (booking_id, amount, paid_at, method)
       SELECT 1 + g % ${n(100000)}, 50 + (g % 200) * 10, now() - (g % 3000) * interval '1 hour', (ARRAY['card','transfer','cash'])[1 + g % 3]
       FROM generate_series(1, ${n(100000)}) g`,
    'CREATE INDEX ON bookings (wedding_id)',
    'CREATE INDEX ON vendor_messages (supplier_id, sent_at)',
    'CREATE INDEX ON payments (booking_id)',
    'CREATE INDEX ON timelines (wedding_id, starts_at)',
    'ANALYZE',
  ];
}

/** A few seconds of a live workload: new messages, bookings and payments (same `scale`). */
export function liveWrites(scale: number): string[] {
  const top = (count: number): string => String(Math.max(1, Math.round(count * scale)) - 1);
  return [
    `INSERT INTO vendor_messages (supplier_id, wedding_id, body)
       SELECT 1 + (random() * ${top(2000)})::int, 1 + (random() * ${top(20000)})::int, 'Quick update: running ' || (random() * 30)::int || ' minutes late'
       FROM generate_series(1, 200)`,
    `INSERT INTO bookings (wedding_id, supplier_id, service, price)
       SELECT 1 + (random() * ${top(20000)})::int, 1 + (random() * ${top(2000)})::int, 'late addition', 200 FROM generate_series(1, 50)`,
    `INSERT INTO payments (booking_id, amount, paid_at, method)
       SELECT 1 + (random() * ${top(100000)})::int, 120, now(), 'card' FROM generate_series(1, 50)`,
  ];
}
