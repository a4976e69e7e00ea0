-- A PostgreSQL store written by the store at commit cbe29f8 (make_store_v1.py),
-- dumped with pg_dump 15 (--column-inserts) and made schema-relative: run it with
-- search_path set to an empty schema. test_store_migration.py opens the result.

CREATE TABLE alias_history (
    id bigint NOT NULL,
    model_id text NOT NULL,
    alias text NOT NULL,
    version text NOT NULL,
    set_ms bigint NOT NULL
);

ALTER TABLE alias_history ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME alias_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE central_decisions (
    id bigint NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    jurisdiction_group text NOT NULL,
    evaluated_ms bigint NOT NULL,
    silos text NOT NULL,
    rows bigint NOT NULL,
    decision text NOT NULL
);

ALTER TABLE central_decisions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME central_decisions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE commands (
    command_id text NOT NULL,
    job_id text NOT NULL,
    silo_id text NOT NULL,
    kind text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    reason text NOT NULL,
    created_ms bigint NOT NULL,
    status text NOT NULL,
    message text DEFAULT ''::text NOT NULL,
    acked_ms bigint,
    payload text DEFAULT ''::text NOT NULL
);

CREATE TABLE feature_drift (
    report_id text NOT NULL,
    silo_id text NOT NULL,
    jurisdiction text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    feature text NOT NULL,
    psi double precision NOT NULL,
    psi_pvalue double precision,
    window_end_ms bigint NOT NULL
);

CREATE TABLE jobs (
    job_id text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    state text NOT NULL,
    reason text NOT NULL,
    created_ms bigint NOT NULL,
    updated_ms bigint NOT NULL,
    detail text DEFAULT ''::text NOT NULL,
    candidate_version text DEFAULT ''::text NOT NULL
);

CREATE TABLE latest_reports (
    silo_id text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    report_id text NOT NULL,
    window_end_ms bigint NOT NULL,
    received_ms bigint NOT NULL,
    seq bigint NOT NULL
);

CREATE TABLE model_aliases (
    model_id text NOT NULL,
    alias text NOT NULL,
    version text NOT NULL,
    set_ms bigint NOT NULL
);

CREATE TABLE model_versions (
    model_id text NOT NULL,
    version text NOT NULL,
    status text NOT NULL,
    created_ms bigint NOT NULL,
    spec_digest text NOT NULL,
    lineage text NOT NULL,
    artifact bytea
);

CREATE TABLE reports (
    report_id text NOT NULL,
    seq bigint NOT NULL,
    silo_id text NOT NULL,
    jurisdiction text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    spec_digest text NOT NULL,
    window_start_ms bigint NOT NULL,
    window_end_ms bigint NOT NULL,
    received_ms bigint NOT NULL,
    allow boolean NOT NULL,
    payload text NOT NULL,
    payload_pb bytea
);

ALTER TABLE reports ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME reports_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE silo_models (
    silo_id text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    spec_digest text NOT NULL
);

CREATE TABLE silos (
    silo_id text NOT NULL,
    jurisdiction text NOT NULL,
    policy_bundle_digest text NOT NULL,
    registered_ms bigint NOT NULL,
    last_seen_ms bigint NOT NULL
);

CREATE TABLE specs (
    spec_digest text NOT NULL,
    model_id text NOT NULL,
    model_version text NOT NULL,
    spec_json text NOT NULL
);

INSERT INTO alias_history (id, model_id, alias, version, set_ms) OVERRIDING SYSTEM VALUE VALUES (1, 'credit-risk', 'champion', '1.0.0', 1796610183928);
INSERT INTO alias_history (id, model_id, alias, version, set_ms) OVERRIDING SYSTEM VALUE VALUES (2, 'credit-risk', 'champion', '1.1.0', 1796610183932);
INSERT INTO alias_history (id, model_id, alias, version, set_ms) OVERRIDING SYSTEM VALUE VALUES (3, 'credit-risk', 'challenger', '1.0.0', 1796610183936);

INSERT INTO central_decisions (id, model_id, model_version, jurisdiction_group, evaluated_ms, silos, rows, decision) OVERRIDING SYSTEM VALUE VALUES (1, 'credit-risk', '1.0.0', 'EU', 5000, '["EU-DE"]', 100, '{"actions": [], "allow": true, "bundle_digest": "", "deny": [], "warn": []}');
INSERT INTO central_decisions (id, model_id, model_version, jurisdiction_group, evaluated_ms, silos, rows, decision) OVERRIDING SYSTEM VALUE VALUES (2, 'credit-risk', '1.0.0', 'EU', 6000, '["EU-DE"]', 100, '{"actions": [], "allow": false, "bundle_digest": "", "deny": [], "warn": []}');
INSERT INTO central_decisions (id, model_id, model_version, jurisdiction_group, evaluated_ms, silos, rows, decision) OVERRIDING SYSTEM VALUE VALUES (3, 'credit-risk', '1.0.0', 'US', 5500, '["US-CA"]', 100, '{"actions": [], "allow": true, "bundle_digest": "", "deny": [], "warn": []}');

INSERT INTO commands (command_id, job_id, silo_id, kind, model_id, model_version, reason, created_ms, status, message, acked_ms, payload) VALUES ('504d7b7f300047ad', '2ee390510a1e425b', 'US-CA', 'retrain', 'credit-risk', '1.0.0', 'drift on income', 1796610183885, 'pending', '', NULL, '');
INSERT INTO commands (command_id, job_id, silo_id, kind, model_id, model_version, reason, created_ms, status, message, acked_ms, payload) VALUES ('040ce8fa3a4e4086', '2ee390510a1e425b', 'EU-DE', 'retrain', 'credit-risk', '1.0.0', 'drift on income', 1796610183885, 'accepted', 'on it', 1796610183906, '');
INSERT INTO commands (command_id, job_id, silo_id, kind, model_id, model_version, reason, created_ms, status, message, acked_ms, payload) VALUES ('b49cedd8c44d4d33', '2ee390510a1e425b', 'EU-DE', 'evaluate', 'credit-risk', '1.0.0', 'evaluate 1.1.0', 1796610183918, 'pending', '', NULL, '{"weights": "AAE="}');

INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-de-1', 'EU-DE', 'EU-DE', 'credit-risk', '1.0.0', 'income', 0.31, 0.002, 1000);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-de-1', 'EU-DE', 'EU-DE', 'credit-risk', '1.0.0', 'age', 0.05, NULL, 1000);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-de-2', 'EU-DE', 'EU-DE', 'credit-risk', '1.0.0', 'income', 0.31, 0.002, 2000);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-de-2', 'EU-DE', 'EU-DE', 'credit-risk', '1.0.0', 'age', 0.05, NULL, 2000);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-ca-1', 'US-CA', 'US-CA', 'credit-risk', '1.0.0', 'income', 0.31, 0.002, 1500);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-ca-1', 'US-CA', 'US-CA', 'credit-risk', '1.0.0', 'age', 0.05, NULL, 1500);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-de-3', 'EU-DE', 'EU-DE', 'credit-risk', '1.1.0', 'income', 0.31, 0.002, 3000);
INSERT INTO feature_drift (report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, psi_pvalue, window_end_ms) VALUES ('r-de-3', 'EU-DE', 'EU-DE', 'credit-risk', '1.1.0', 'age', 0.05, NULL, 3000);

INSERT INTO jobs (job_id, model_id, model_version, state, reason, created_ms, updated_ms, detail, candidate_version) VALUES ('2ee390510a1e425b', 'credit-risk', '1.0.0', 'evaluating', 'drift on income', 1796610183885, 1796610183908, '', '1.1.0');

INSERT INTO latest_reports (silo_id, model_id, model_version, report_id, window_end_ms, received_ms, seq) VALUES ('EU-DE', 'credit-risk', '1.0.0', 'r-de-2', 2000, 1796610183868, 2);
INSERT INTO latest_reports (silo_id, model_id, model_version, report_id, window_end_ms, received_ms, seq) VALUES ('US-CA', 'credit-risk', '1.0.0', 'r-ca-1', 1500, 1796610183870, 3);
INSERT INTO latest_reports (silo_id, model_id, model_version, report_id, window_end_ms, received_ms, seq) VALUES ('EU-DE', 'credit-risk', '1.1.0', 'r-de-3', 3000, 1796610183884, 4);

INSERT INTO model_aliases (model_id, alias, version, set_ms) VALUES ('credit-risk', 'champion', '1.1.0', 1796610183932);
INSERT INTO model_aliases (model_id, alias, version, set_ms) VALUES ('credit-risk', 'challenger', '1.0.0', 1796610183936);

INSERT INTO model_versions (model_id, version, status, created_ms, spec_digest, lineage, artifact) VALUES ('credit-risk', '1.1.0', 'candidate', 200, '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', '{"parent": "1.0.0"}', '\x000177');
INSERT INTO model_versions (model_id, version, status, created_ms, spec_digest, lineage, artifact) VALUES ('credit-risk', '1.0.0', 'promoted', 100, '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', '{"parent": null}', NULL);

INSERT INTO reports (report_id, seq, silo_id, jurisdiction, model_id, model_version, spec_digest, window_start_ms, window_end_ms, received_ms, allow, payload, payload_pb) OVERRIDING SYSTEM VALUE VALUES ('r-de-1', 1, 'EU-DE', 'EU-DE', 'credit-risk', '1.0.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', 500, 1000, 1796610183859, true, '', '\x0a06722d64652d31120545552d44451a0545552d4445220b6372656469742d7269736b2a05312e302e30320608f40310e8073a40373339306366633537356565373430383334653738303463393638623661346135393836306364363439356462363237316363346237353461373636646437654281030a403733393063666335373565653734303833346537383034633936386236613461353938363063643634393564623632373163633462373534613736366464376510641a170a0361676512076e756d657269631a0700101b1a1f00001a1a0a06696e636f6d6512076e756d657269631a0700141c191b00001a1e0a0a646562745f726174696f12076e756d657269631a0700141b1d1701001a290a156372656469745f686973746f72795f6d6f6e74687312076e756d657269631a07001f1a171400001a1f0a0b6c6f616e5f616d6f756e7412076e756d657269631a07001b0e1d1d01001a1f0a07707572706f7365120b63617465676f726963616c1a070e1f0d1c0e00001a200a0a656d706c6f796d656e74120b63617465676f726963616c1a0541121100001a1e0a086167655f62616e64120b63617465676f726963616c1a05392209000022350a0373657812014612014d12095f5f6f746865725f5f120b5f5f6d697373696e675f5f1a101104051511070617000000000000000032004a5d7b226472696674223a207b226665617475726573223a207b22616765223a207b22707369223a20302e30357d2c2022696e636f6d65223a207b22707369223a20302e33312c20227073695f7076616c7565223a20302e3030327d7d7d7d5202080160b3a5bff2a434');
INSERT INTO reports (report_id, seq, silo_id, jurisdiction, model_id, model_version, spec_digest, window_start_ms, window_end_ms, received_ms, allow, payload, payload_pb) OVERRIDING SYSTEM VALUE VALUES ('r-de-2', 2, 'EU-DE', 'EU-DE', 'credit-risk', '1.0.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', 1500, 2000, 1796610183868, false, '', '\x0a06722d64652d32120545552d44451a0545552d4445220b6372656469742d7269736b2a05312e302e30320608dc0b10d00f3a40373339306366633537356565373430383334653738303463393638623661346135393836306364363439356462363237316363346237353461373636646437654281030a403733393063666335373565653734303833346537383034633936386236613461353938363063643634393564623632373163633462373534613736366464376510641a170a0361676512076e756d657269631a0700101b1a1f00001a1a0a06696e636f6d6512076e756d657269631a0700141c191b00001a1e0a0a646562745f726174696f12076e756d657269631a0700141b1d1701001a290a156372656469745f686973746f72795f6d6f6e74687312076e756d657269631a07001f1a171400001a1f0a0b6c6f616e5f616d6f756e7412076e756d657269631a07001b0e1d1d01001a1f0a07707572706f7365120b63617465676f726963616c1a070e1f0d1c0e00001a200a0a656d706c6f796d656e74120b63617465676f726963616c1a0541121100001a1e0a086167655f62616e64120b63617465676f726963616c1a05392209000022350a0373657812014612014d12095f5f6f746865725f5f120b5f5f6d697373696e675f5f1a101104051511070617000000000000000032004a5d7b226472696674223a207b226665617475726573223a207b22616765223a207b22707369223a20302e30357d2c2022696e636f6d65223a207b22707369223a20302e33312c20227073695f7076616c7565223a20302e3030327d7d7d7d52101205647269667422077265747261696e60bca5bff2a434');
INSERT INTO reports (report_id, seq, silo_id, jurisdiction, model_id, model_version, spec_digest, window_start_ms, window_end_ms, received_ms, allow, payload, payload_pb) OVERRIDING SYSTEM VALUE VALUES ('r-ca-1', 3, 'US-CA', 'US-CA', 'credit-risk', '1.0.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', 1000, 1500, 1796610183870, true, '', '\x0a06722d63612d31120555532d43411a0555532d4341220b6372656469742d7269736b2a05312e302e30320608e80710dc0b3a40373339306366633537356565373430383334653738303463393638623661346135393836306364363439356462363237316363346237353461373636646437654281030a403733393063666335373565653734303833346537383034633936386236613461353938363063643634393564623632373163633462373534613736366464376510641a170a0361676512076e756d657269631a0700101b1a1f00001a1a0a06696e636f6d6512076e756d657269631a0700141c191b00001a1e0a0a646562745f726174696f12076e756d657269631a0700141b1d1701001a290a156372656469745f686973746f72795f6d6f6e74687312076e756d657269631a07001f1a171400001a1f0a0b6c6f616e5f616d6f756e7412076e756d657269631a07001b0e1d1d01001a1f0a07707572706f7365120b63617465676f726963616c1a070e1f0d1c0e00001a200a0a656d706c6f796d656e74120b63617465676f726963616c1a0541121100001a1e0a086167655f62616e64120b63617465676f726963616c1a05392209000022350a0373657812014612014d12095f5f6f746865725f5f120b5f5f6d697373696e675f5f1a101104051511070617000000000000000032004a5d7b226472696674223a207b226665617475726573223a207b22616765223a207b22707369223a20302e30357d2c2022696e636f6d65223a207b22707369223a20302e33312c20227073695f7076616c7565223a20302e3030327d7d7d7d521008011a0c736d616c6c2077696e646f7760bea5bff2a434');
INSERT INTO reports (report_id, seq, silo_id, jurisdiction, model_id, model_version, spec_digest, window_start_ms, window_end_ms, received_ms, allow, payload, payload_pb) OVERRIDING SYSTEM VALUE VALUES ('r-de-3', 4, 'EU-DE', 'EU-DE', 'credit-risk', '1.1.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', 2500, 3000, 1796610183884, true, '', '\x0a06722d64652d33120545552d44451a0545552d4445220b6372656469742d7269736b2a05312e312e30320608c41310b8173a40373339306366633537356565373430383334653738303463393638623661346135393836306364363439356462363237316363346237353461373636646437654281030a403733393063666335373565653734303833346537383034633936386236613461353938363063643634393564623632373163633462373534613736366464376510641a170a0361676512076e756d657269631a0700101b1a1f00001a1a0a06696e636f6d6512076e756d657269631a0700141c191b00001a1e0a0a646562745f726174696f12076e756d657269631a0700141b1d1701001a290a156372656469745f686973746f72795f6d6f6e74687312076e756d657269631a07001f1a171400001a1f0a0b6c6f616e5f616d6f756e7412076e756d657269631a07001b0e1d1d01001a1f0a07707572706f7365120b63617465676f726963616c1a070e1f0d1c0e00001a200a0a656d706c6f796d656e74120b63617465676f726963616c1a0541121100001a1e0a086167655f62616e64120b63617465676f726963616c1a05392209000022350a0373657812014612014d12095f5f6f746865725f5f120b5f5f6d697373696e675f5f1a101104051511070617000000000000000032004a5d7b226472696674223a207b226665617475726573223a207b22616765223a207b22707369223a20302e30357d2c2022696e636f6d65223a207b22707369223a20302e33312c20227073695f7076616c7565223a20302e3030327d7d7d7d5202080160cca5bff2a434');

INSERT INTO silo_models (silo_id, model_id, model_version, spec_digest) VALUES ('EU-DE', 'credit-risk', '1.0.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e');
INSERT INTO silo_models (silo_id, model_id, model_version, spec_digest) VALUES ('EU-DE', 'credit-risk', '1.1.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e');
INSERT INTO silo_models (silo_id, model_id, model_version, spec_digest) VALUES ('US-CA', 'credit-risk', '1.0.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e');
INSERT INTO silo_models (silo_id, model_id, model_version, spec_digest) VALUES ('US-CA', 'credit-risk', '1.1.0', '7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e');

INSERT INTO silos (silo_id, jurisdiction, policy_bundle_digest, registered_ms, last_seen_ms) VALUES ('US-CA', 'US-CA', 'sha256:bundle-US-CA', 1796610183841, 1796610183870);
INSERT INTO silos (silo_id, jurisdiction, policy_bundle_digest, registered_ms, last_seen_ms) VALUES ('EU-DE', 'EU-DE', 'sha256:bundle-EU-DE', 1796610183824, 1796610183884);

INSERT INTO specs (spec_digest, model_id, model_version, spec_json) VALUES ('7390cfc575ee740834e7804c968b6a4a59860cd6495db6271cc4b754a766dd7e', 'credit-risk', '1.0.0', '{"format": "fedgov.spec/v1", "model": {"id": "credit-risk", "version": "1.0.0"}, "label": "repaid", "prediction": "approved", "score": null, "positive_label": "1", "features": [{"name": "age", "kind": "numeric", "edges": [18.0, 33.0, 42.0, 50.25, 75.0]}, {"name": "income", "kind": "numeric", "edges": [8500.0, 25620.0, 35740.0, 51652.5, 237000.0]}, {"name": "debt_ratio", "kind": "numeric", "edges": [0.004, 0.1625, 0.2715, 0.3885, 0.761]}, {"name": "credit_history_months", "kind": "numeric", "edges": [8.0, 51.75, 75.0, 105.0, 328.0]}, {"name": "loan_amount", "kind": "numeric", "edges": [880.0, 5092.5, 7440.0, 12477.5, 74980.0]}, {"name": "purpose", "kind": "categorical", "categories": ["business", "car", "education", "home", "other"]}, {"name": "employment", "kind": "categorical", "categories": ["employed", "self-employed", "unemployed"]}, {"name": "age_band", "kind": "categorical", "categories": ["30-49", "50+", "<30"]}], "sensitive": [{"name": "sex", "groups": ["F", "M"]}], "intersections": [], "reference": {"age": [0, 96, 99, 105, 100, 0, 0], "age_band": [220, 106, 74, 0, 0], "credit_history_months": [0, 100, 98, 101, 101, 0, 0], "debt_ratio": [0, 100, 100, 100, 100, 0, 0], "employment": [274, 97, 29, 0, 0], "income": [0, 99, 100, 101, 100, 0, 0], "loan_amount": [0, 100, 100, 100, 100, 0, 0], "purpose": [65, 150, 48, 97, 40, 0, 0]}}');

SELECT pg_catalog.setval('alias_history_id_seq', 3, true);

SELECT pg_catalog.setval('central_decisions_id_seq', 3, true);

SELECT pg_catalog.setval('reports_seq_seq', 4, true);

ALTER TABLE ONLY alias_history
    ADD CONSTRAINT alias_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY central_decisions
    ADD CONSTRAINT central_decisions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY commands
    ADD CONSTRAINT commands_pkey PRIMARY KEY (command_id);

ALTER TABLE ONLY feature_drift
    ADD CONSTRAINT feature_drift_pkey PRIMARY KEY (report_id, feature);

ALTER TABLE ONLY jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (job_id);

ALTER TABLE ONLY latest_reports
    ADD CONSTRAINT latest_reports_pkey PRIMARY KEY (silo_id, model_id, model_version);

ALTER TABLE ONLY model_aliases
    ADD CONSTRAINT model_aliases_pkey PRIMARY KEY (model_id, alias);

ALTER TABLE ONLY model_versions
    ADD CONSTRAINT model_versions_pkey PRIMARY KEY (model_id, version);

ALTER TABLE ONLY reports
    ADD CONSTRAINT reports_pkey PRIMARY KEY (report_id);

ALTER TABLE ONLY silo_models
    ADD CONSTRAINT silo_models_pkey PRIMARY KEY (silo_id, model_id, model_version);

ALTER TABLE ONLY silos
    ADD CONSTRAINT silos_pkey PRIMARY KEY (silo_id);

ALTER TABLE ONLY specs
    ADD CONSTRAINT specs_pkey PRIMARY KEY (spec_digest);

CREATE INDEX central_by_subject ON central_decisions USING btree (model_id, model_version, jurisdiction_group, id);

CREATE INDEX commands_by_job ON commands USING btree (job_id);

CREATE INDEX commands_by_silo ON commands USING btree (silo_id, status);

CREATE INDEX drift_by_time ON feature_drift USING btree (window_end_ms, psi);

CREATE INDEX jobs_by_model ON jobs USING btree (model_id, model_version, state);

CREATE INDEX reports_by_model ON reports USING btree (model_id, model_version, silo_id, window_end_ms);

CREATE INDEX reports_by_model_time ON reports USING btree (model_id, window_end_ms);
