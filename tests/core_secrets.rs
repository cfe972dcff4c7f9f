//! No configuration error, debug print or answer echoes a secret's value: the texts are shown
//! by `/admin/health` and written to the log.

use b2b_relay::core::config;

const SECRET_VALUES: [&str; 3] = [
    "whsec_%%%NOT-BASE64-SIGNING-VALUE",
    "header-secret-value-123",
    "ingest-token-value-456",
];

fn source(name: &str) -> Option<String> {
    match name {
        "INGEST_TOKENS" => Some(SECRET_VALUES[2].to_owned()),
        "CRM_KEY" => Some(SECRET_VALUES[0].to_owned()),
        "ERP_HEADER" => Some(SECRET_VALUES[1].to_owned()),
        "TARGETS" => Some(
            r#"[{"name":"crm","url":"https://crm.example","signing_secret":"CRM_KEY"},
                {"name":"erp","url":"ftp://erp.example","headers":{"X-Key":"secret:ERP_HEADER"}}]"#
                .to_owned(),
        ),
        _ => None,
    }
}

#[test]
fn configuration_errors_name_secrets_never_their_values() {
    let errors = config::load(&source).unwrap_err();
    let all = errors.join("\n");
    assert!(all.contains("CRM_KEY"), "{all}");
    for v in SECRET_VALUES {
        assert!(!all.contains(v), "{all}");
    }
}

#[test]
fn a_loaded_configuration_prints_no_secret() {
    let ok = |name: &str| match name {
        "CRM_KEY" => Some("whsec_QUJDREVGR0hJSktM".to_owned()),
        "TARGETS" => Some(
            r#"[{"name":"crm","url":"https://crm.example","signing_secret":"CRM_KEY",
                 "headers":{"X-Key":"secret:ERP_HEADER"}}]"#
                .to_owned(),
        ),
        other => source(other),
    };
    let cfg = config::load(&ok).unwrap();
    let shown = format!("{cfg:?}");
    for v in [SECRET_VALUES[1], SECRET_VALUES[2], "QUJDREVGR0hJSktM"] {
        assert!(!shown.contains(v), "{v} in {shown}");
    }
}
