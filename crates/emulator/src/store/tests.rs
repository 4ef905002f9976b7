use super::*;

/// A store in `dir` with one function `f` (code dir `dir/code`, not checked), published once.
pub(crate) fn store_with_function(dir: &Path) -> Store {
    store_with(dir, None)
}

/// Like [`store_with_function`], `f` on Lambda Managed Instances (2048 MB, `max` per environment).
pub(crate) fn store_with_lmi_function(dir: &Path, max: u32) -> Store {
    let cp = crate::model::LambdaManagedInstancesCapacityProviderConfig::new(
        "arn:aws:lambda:us-east-1:123456789012:capacity-provider:cp",
    )
    .max_concurrency(max);
    store_with(dir, Some(cp))
}

fn store_with(
    dir: &Path,
    capacity_provider: Option<crate::model::LambdaManagedInstancesCapacityProviderConfig>,
) -> Store {
    let mut s = Store::load(dir, "us-east-1", "123456789012").unwrap();
    let nf = NewFunction {
        name: "f".into(),
        runtime: None,
        role: None,
        handler: None,
        description: None,
        timeout: None,
        memory_size: capacity_provider.as_ref().map(|_| 2048),
        env: None,
        architectures: None,
        capacity_provider,
    };
    let code = PreparedCode {
        code_dir: dir.join("code"),
        sha256: "x".into(),
        size: 1,
        owned: false,
    };
    s.create(nf, code, true).unwrap();
    s
}

fn fref(q: Option<&str>) -> FunctionRef {
    FunctionRef {
        name: "f".into(),
        qualifier: q.map(str::to_string),
    }
}

fn patch(retries: Option<i64>, age: Option<i64>) -> EventInvokePatch {
    EventInvokePatch {
        maximum_retry_attempts: retries,
        maximum_event_age_in_seconds: age,
    }
}

#[test]
fn event_invoke_config_validation_put_update_and_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store_with_function(dir.path());
    assert_eq!(s.async_settings(&fref(None)), AsyncSettings::default());
    assert_eq!(
        AsyncSettings::default(),
        AsyncSettings {
            max_retries: 2,
            max_event_age_s: 21_600
        }
    );
    for (p, field) in [
        (patch(Some(3), None), "MaximumRetryAttempts 3"),
        (patch(Some(-1), None), "MaximumRetryAttempts -1"),
        (patch(None, Some(59)), "MaximumEventAgeInSeconds 59"),
        (patch(None, Some(21_601)), "MaximumEventAgeInSeconds 21601"),
    ] {
        let e = s.put_event_invoke_config(&fref(None), p, true).unwrap_err();
        assert!(
            matches!(&e, EmulatorError::InvalidParameter(m) if m.contains(field)),
            "{e}"
        );
    }
    assert!(matches!(
        s.event_invoke_config(&fref(None)),
        Err(EmulatorError::NotFound(_))
    ));
    let c = s
        .put_event_invoke_config(&fref(None), patch(Some(1), Some(120)), true)
        .unwrap();
    assert_eq!(
        (c.maximum_retry_attempts, c.maximum_event_age_in_seconds),
        (Some(1), Some(120))
    );
    // Unqualified and $LATEST are the same config.
    assert_eq!(s.event_invoke_config(&fref(Some("$LATEST"))).unwrap(), c);
    // Update keeps the other field; Put resets it.
    let c = s
        .put_event_invoke_config(&fref(None), patch(Some(0), None), false)
        .unwrap();
    assert_eq!(c.maximum_event_age_in_seconds, Some(120));
    assert_eq!(
        s.async_settings(&fref(Some("1"))),
        AsyncSettings {
            max_retries: 0,
            max_event_age_s: 120
        }
    );
    // A version's own config wins as a whole over the unqualified one.
    s.put_event_invoke_config(&fref(Some("1")), patch(None, Some(60)), true)
        .unwrap();
    assert_eq!(
        s.async_settings(&fref(Some("1"))),
        AsyncSettings {
            max_retries: 2,
            max_event_age_s: 60
        }
    );
    // Unknown versions and functions are not found.
    assert!(matches!(
        s.put_event_invoke_config(&fref(Some("7")), patch(Some(0), None), true),
        Err(EmulatorError::NotFound(_))
    ));
    // Persisted; deleting the version deletes its config.
    let reloaded = Store::load(dir.path(), "us-east-1", "123456789012").unwrap();
    assert_eq!(
        reloaded.async_settings(&fref(Some("1"))).max_event_age_s,
        60
    );
    s.delete("f", Some("1")).unwrap();
    assert!(!s.state.functions["f"]
        .event_invoke_configs
        .contains_key("1"));
    s.delete_event_invoke_config(&fref(None)).unwrap();
    assert!(matches!(
        s.delete_event_invoke_config(&fref(None)),
        Err(EmulatorError::NotFound(m)) if m.contains("doesn't have an EventInvokeConfig")
    ));
}
