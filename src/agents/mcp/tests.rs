use super::*;
use crate::instance::error::Error;

#[test]
fn lines_the_sdk_must_not_see_get_json_rpc_errors() {
    let code = |l: &str| pre_answer(l).map(|v| (v["error"]["code"].clone(), v["id"].clone()));
    assert_eq!(code("{oops"), Some((json!(-32700), Value::Null)));
    assert_eq!(code("not json at all"), Some((json!(-32700), Value::Null)));
    assert_eq!(code("42"), Some((json!(-32600), Value::Null)));
    assert_eq!(
        code(r#"{"jsonrpc":"2.0","id":3}"#),
        Some((json!(-32600), json!(3)))
    );
    let call = |args: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"status","arguments":{args}}}}}"#
        )
    };
    for bad in ["[1]", "\"x\"", "5", "true"] {
        let v = pre_answer(&call(bad)).unwrap_or_else(|| panic!("{bad}"));
        assert_eq!(v["error"]["code"], -32602, "{bad}");
        assert_eq!(v["id"], 7);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("arguments"))
        );
    }
    assert_eq!(
        code(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":[1]}"#),
        Some((json!(-32602), json!(8)))
    );
    // What the SDK answers itself passes through.
    for fine in [
        call("{}"),
        call("null"),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_string(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_string(),
        String::new(),
    ] {
        assert_eq!(pre_answer(&fine), None, "{fine}");
    }
}

/// Ctrl-C is a cancellation, not a failure: its value says so (and the server
/// answers it without isError).
#[test]
fn an_interrupted_call_is_not_a_failure() {
    let v = error_value(
        &Error::interrupted().into(),
        &[],
        crate::cli::hints::agents_hint,
    );
    assert_eq!(v["exit_code"], 130);
    assert_eq!(v["class"], "interrupted");
    assert_eq!(v["failure"], false);
    let e = Error::NoLocalProd.into();
    assert_eq!(
        error_value(&e, &[], crate::cli::hints::agents_hint)["failure"],
        true
    );
}

#[test]
fn errors_carry_code_class_and_hint() {
    let e: crate::agents::error::AgentsError = Error::NoInstanceHere {
        dir: PathBuf::from("/x"),
    }
    .into();
    let v = error_value(&e, &["a line".into()], crate::cli::hints::agents_hint);
    assert_eq!(v["exit_code"], e.exit_code());
    assert_eq!(v["class"], exit_class(e.exit_code()));
    assert!(v["hint"].is_string());
    assert_eq!(v["messages"][0], "a line");
    assert_eq!(exit_class(5), "would_lose_work");
    assert_eq!(exit_class(1), "failure");
}
