//! The `temporal-lambda` binary end to end, through the standard AWS config chain
//! (`AWS_ENDPOINT_URL_<SERVICE>` → moto for IAM/CloudFormation, the project's emulator for
//! Lambda/STS/Logs) and the real Temporal dev server: `ship` (including the real
//! `cargo zigbuild` packaging), `--dry-run`, bad input, and secrets never printed.

use crate::support;

use support::*;

const EXE: &str = env!("CARGO_BIN_EXE_temporal-lambda");

fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

fn json(o: &std::process::Output) -> serde_json::Value {
    ok(o);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ship_packages_deploys_registers_and_verifies_then_a_rerun_resumes() {
    let _compiling = COMPILING.lock().await;
    let rig = AwsRig::start("ship").await;
    let repo = repo_root();
    let address = rig.server.address();
    // `--include` files reach the function's zip.
    let extra = rig.dir.0.join("ship-extra.txt");
    std::fs::write(&extra, "included by ship --include\n").unwrap();
    let state_path = rig.dir.0.join("state/ship-hello.json");
    let args = [
        "ship",
        "--include",
        extra.to_str().unwrap(),
        "--state-file",
        state_path.to_str().unwrap(),
        "--project-dir",
        repo.to_str().unwrap(),
        "-p",
        "hello-worker",
        "--profile",
        "dev",
        "--function-name",
        "hello",
        "--execution-role",
        EXECUTION_ROLE,
        "--timeout",
        "60s",
        "--trusted-principal",
        SERVER_PRINCIPAL,
        "--address",
        &address,
        "--verify-workflow",
        "HelloWorkflow",
        "--verify-input",
        "\"ship\"",
        "-o",
        "json",
    ];
    let first = json(&rig.cli(EXE, &args));
    // Packaged for Lambda: bootstrap at the root, glibc symbols no newer than AL2023's 2.34.
    let zip_path = std::path::PathBuf::from(first["package"]["path"].as_str().unwrap());
    let zip_path = if zip_path.is_absolute() {
        zip_path
    } else {
        rig.dir.0.join(zip_path)
    };
    temporal_lambda_package::check_zip(&zip_path).unwrap();
    assert_eq!(
        first["package"]["entries"],
        serde_json::json!(["bootstrap", "ship-extra.txt"]),
        "ship --include was dropped"
    );
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&zip_path), 0o600, "the zip may hold included keys");
    let bin = rig.dir.0.join("shipped-bootstrap");
    extract_bootstrap(&zip_path, &bin);
    let glibc = temporal_lambda_package::glibc_requirements(&bin).unwrap();
    let newest = glibc
        .iter()
        .next_back()
        .copied()
        .expect("dynamically linked against glibc");
    assert!(
        newest <= temporal_lambda_package::GlibcVersion(2, 34),
        "the packaged bootstrap needs GLIBC_{newest}, newer than Lambda's 2.34"
    );
    // Deployed and published as version 1 for the code's own build ID.
    assert_eq!(
        first["deploy"]["function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello:1"
    );
    assert_eq!(first["deploy"]["build_id"], "build-1");
    assert_eq!(first["deploy"]["published"], true);
    // The role came from the CloudFormation stack in moto; registered and current.
    let role = first["role_arn"].as_str().unwrap();
    assert!(
        role.starts_with("arn:aws:iam::123456789012:role/Temporal-Serverless-Worker-"),
        "{role}"
    );
    assert_eq!(first["register"]["outcome"], "created");
    assert!(first["register"]["set_current"].is_object());
    // The server invoked the function (through the role, enforced by the emulator's STS reading
    // the trust policy from moto) and the workflow completed.
    assert_eq!(first["verify"]["result"], "Hello, ship!");
    assert!(rig.emu.sts_stats().assume_role_granted > 0);

    // A rerun: nothing is duplicated.
    let again = json(&rig.cli(EXE, &args));
    assert_eq!(again["deploy"]["published"], false, "{again:#}");
    assert_eq!(
        again["deploy"]["function_arn"],
        first["deploy"]["function_arn"]
    );
    assert_eq!(again["stack"]["changed"], false);
    assert_eq!(again["role_arn"], first["role_arn"]);
    assert_eq!(again["register"]["outcome"], "unchanged");
    assert_eq!(again["verify"]["result"], "Hello, ship!");
    assert_eq!(
        mode(&state_path),
        0o600,
        "the state file holds the external ID"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(
        state["completed"],
        serde_json::json!([
            "package",
            "deploy",
            "iam",
            "register",
            "set-current",
            "verify"
        ])
    );
    let versions = rig
        .aws
        .lambda
        .list_versions_by_function()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2, "$LATEST and 1 only");

    // The state file is lost (another checkout, another machine) and build 2 is shipped: the
    // external ID is read back from the role stack, never silently rotated, so build 1's
    // version (registered with the original ID) can still be invoked.
    // The state file is lost (another checkout, another machine): the external ID is read back
    // from the role stack, not regenerated, so versions registered with it keep working.
    let first_id = state["external_id"].as_str().unwrap().to_string();
    std::fs::remove_file(&state_path).unwrap();
    let third = json(&rig.cli(EXE, &args));
    assert_eq!(third["stack"]["changed"], false, "{third:#}");
    assert_eq!(third["register"]["outcome"], "unchanged", "{third:#}");
    let state2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(
        state2["external_id"].as_str(),
        Some(first_id.as_str()),
        "the external ID was rotated"
    );
    // Asking for another external ID is refused unless rotation is explicit.
    let mut other = args.to_vec();
    other.extend(["--external-id", "another-external-id-42"]);
    let o = rig.cli(EXE, &other);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--rotate-external-id"),
        "{}",
        stderr(&o)
    );

    // Build 2 (the same code told it is build-2) shipped as a 50 % ramp, not current.
    let zip = zip_path.to_str().unwrap();
    let ramp_args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "-o" && *a != "json")
        .chain([
            "--zip",
            zip,
            "--env",
            "HELLO_BUILD_ID=build-2",
            "--ramp",
            "50",
            "-o",
            "json",
        ])
        .collect();
    let t = std::time::Instant::now();
    let ramped = json(&rig.cli(EXE, &ramp_args));
    eprintln!("SHIP --ramp 50 took {:?}", t.elapsed());
    assert_eq!(ramped["deploy"]["build_id"], "build-2", "{ramped:#}");
    assert_eq!(
        ramped["deploy"]["function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello:2"
    );
    assert!(ramped["register"]["set_current"].is_null(), "{ramped:#}");
    assert_eq!(ramped["ramp"]["after"]["current"], "build-1");
    assert_eq!(ramped["ramp"]["after"]["ramping"], "build-2");
    assert_eq!(ramped["ramp"]["after"]["ramping_percent"], 50.0);
    assert_eq!(ramped["verify"]["result"], "Hello, ship!");

    // `status` reads both builds and their functions' logs.
    let st = json(&rig.cli(
        EXE,
        &[
            "status",
            "--deployment-name",
            "hello-app",
            "--address",
            &address,
            "-o",
            "json",
        ],
    ));
    let row = |b: &str| {
        st["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["build_id"] == b)
            .unwrap_or_else(|| panic!("{b} missing: {st:#}"))
            .clone()
    };
    assert_eq!(row("build-2")["state"], "ramping", "{st:#}");
    assert_eq!(row("build-1")["state"], "current", "{st:#}");
    let invoked = |b: &str| row(b)["logs"]["invocations"].as_u64().unwrap();
    assert!(
        invoked("build-1") + invoked("build-2") >= 1,
        "the verify workflows' invocations are in the logs: {st:#}"
    );
    // `retire` refuses a ramping build and a current one.
    for (b, role) in [("build-2", "ramping"), ("build-1", "current")] {
        let o = rig.cli(
            EXE,
            &[
                "retire",
                "--deployment-name",
                "hello-app",
                "--build-id",
                b,
                "--address",
                &address,
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("is the {role} version")),
            "{}",
            stderr(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_run_prints_every_call_and_makes_none() {
    let rig = AwsRig::start("dryrun").await;
    let address = rig.server.address();
    let o = rig.cli(
        EXE,
        &[
            "ship",
            "--function-name",
            "hello",
            "--execution-role",
            EXECUTION_ROLE,
            "--address",
            &address,
            "--verify-workflow",
            "HelloWorkflow",
            "--dry-run",
        ],
    );
    ok(&o);
    let out = stdout(&o);
    for call in [
        "cargo zigbuild --locked --target x86_64-unknown-linux-gnu.2.34",
        "lambda:GetFunction hello",
        "lambda:CreateFunction hello (runtime provided.al2023, handler bootstrap, x86_64, timeout 600 s, 256 MB",
        "lambda:PublishVersion hello",
        "cloudformation:CreateStack hello-temporal-invoker",
        "CreateWorkerDeploymentVersion",
        "SetWorkerDeploymentCurrentVersion",
        "StartWorkflowExecution HelloWorkflow",
    ] {
        assert!(out.contains(call), "dry run lacks {call:?}:\n{out}");
    }
    assert!(
        rig.emu.get_function("hello").is_err(),
        "no function created"
    );
    let stacks = rig
        .aws
        .cloudformation
        .describe_stacks()
        .send()
        .await
        .unwrap();
    assert!(stacks.stacks().is_empty(), "no stack created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_error_and_the_fix() {
    let rig = AwsRig::start("badinput").await;
    let fa = "arn:aws:lambda:us-east-1:123456789012:function:hello";
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (
            vec!["iam", "create", "--function-arn", "hello"],
            2,
            vec!["invalid Lambda function ARN"],
        ),
        (
            vec![
                "iam",
                "create",
                "--function-arn",
                fa,
                "--external-id",
                "abc",
            ],
            2,
            vec!["external ID", "3 characters long"],
        ),
        (
            vec![
                "iam",
                "create",
                "--function-arn",
                fa,
                "--external-id",
                "has space!",
            ],
            2,
            vec!["character ` ` is not allowed"],
        ),
        (
            vec![
                "iam",
                "create",
                "--function-arn",
                "arn:aws:lambda:us-west-2:123456789012:function:hello",
            ],
            1,
            vec![
                "is in region us-west-2",
                "AWS region in use is us-east-1",
                "--region us-west-2",
            ],
        ),
    ];
    for (args, code, needles) in cases {
        let o = rig.cli(EXE, &args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        for n in needles {
            assert!(
                stderr(&o).contains(n),
                "{args:?}: stderr lacks {n:?}:\n{}",
                stderr(&o)
            );
        }
    }

    // A zip without bootstrap.
    let bad = rig.dir.0.join("bad.zip");
    {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
        w.start_file("main", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        w.finish().unwrap();
    }
    let o = rig.cli(
        EXE,
        &[
            "deploy",
            "--function-name",
            "hello",
            "--zip",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("has no `bootstrap` at its root"),
        "{}",
        stderr(&o)
    );

    // Missing credentials: one message with the fix, before any call.
    let no_creds = |args: &[&str]| {
        std::process::Command::new(EXE)
            .args(args)
            .env_clear()
            .envs(
                rig.cli_env()
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET")),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    };
    let o = no_creds(&["iam", "create", "--function-arn", fa]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no AWS credentials found"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("aws configure"), "{}", stderr(&o));
    // doctor reports it as a failed check and exits 3.
    let o = no_creds(&[
        "doctor",
        "--deployment-name",
        "d",
        "--build-id",
        "b",
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let creds = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "aws-credentials")
        .unwrap();
    assert_eq!(creds["status"], "fail");

    // arm64 without its standard library installed (this machine has only x86_64's).
    if temporal_lambda_package::check_target_installed(temporal_lambda_package::Arch::Arm64)
        .is_err()
    {
        let o = rig.cli(EXE, &["package", "--arch", "arm64"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("rustup target add aarch64-unknown-linux-gnu"),
            "{}",
            stderr(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_keys_are_never_printed() {
    let rig = AwsRig::start("secrets").await;
    const KEY: &str = "tl-SECRET-api-key-5f2c9e";
    // Secrets under other names: gRPC metadata, the codec server's auth, anything named like one.
    const META: &str = "meta-SECRET-7a1d";
    const CODEC: &str = "codec-SECRET-93bb";
    const PASSWORD: &str = "pw-SECRET-0c4e";
    // Any code will do to check what deploy and doctor print: a stub bootstrap.
    let address = rig.server.address();
    let stub = rig.dir.0.join("stub");
    std::fs::create_dir_all(&stub).unwrap();
    let boot = stub.join("bootstrap");
    std::fs::write(&boot, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&boot, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let z = temporal_lambda_package::zip_bootstrap(&boot, &[], &stub.join("f.zip")).unwrap();
    for output in ["text", "json"] {
        let o = rig.cli(
            EXE,
            &[
                "deploy",
                "--function-name",
                "hello",
                "--execution-role",
                EXECUTION_ROLE,
                "--zip",
                z.path.to_str().unwrap(),
                "--address",
                &address,
                "--api-key",
                KEY,
                "--tls=false",
                "--env",
                &format!("TEMPORAL_GRPC_META_AUTHORIZATION=Bearer {META}"),
                "--env",
                &format!("TEMPORAL_CODEC_AUTH={CODEC}"),
                "--env",
                &format!("PAYMENTS_DB_PASSWORD={PASSWORD}"),
                "-o",
                output,
            ],
        );
        // The stub cannot answer describe: deploy fails after creating the function. Either
        // way, the key must not appear.
        assert!(
            !stdout(&o).contains(KEY) && !stderr(&o).contains(KEY),
            "{output}: key printed"
        );
        assert!(
            stderr(&o).contains("did not answer the describe request"),
            "{}",
            stderr(&o)
        );
    }
    let env = rig.emu.get_function("hello").unwrap().env_vars();
    assert_eq!(
        env.get("TEMPORAL_API_KEY").map(String::as_str),
        Some(KEY),
        "the key reached the function"
    );
    for output in ["text", "json"] {
        let o = rig.cli(
            EXE,
            &[
                "doctor",
                "--deployment-name",
                "d",
                "--build-id",
                "b",
                "--function",
                "arn:aws:lambda:us-east-1:123456789012:function:hello:$LATEST",
                "--address",
                &address,
                "-o",
                output,
            ],
        );
        assert_eq!(o.status.code(), Some(3));
        let out = stdout(&o);
        for name in [
            "TEMPORAL_API_KEY",
            "TEMPORAL_GRPC_META_AUTHORIZATION",
            "TEMPORAL_CODEC_AUTH",
        ] {
            assert!(
                out.contains(&format!("{name}=<redacted>")),
                "{output}: {out}"
            );
        }
        for secret in [KEY, META, CODEC, PASSWORD] {
            assert!(
                !out.contains(secret) && !stderr(&o).contains(secret),
                "doctor -o {output} printed a secret ({secret}): {out}"
            );
        }
    }
}
