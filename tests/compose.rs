//! The dev stack without a Docker engine: docker-compose.yml, the Dockerfile and .dockerignore read and checked.

use std::collections::BTreeMap;
use std::path::Path;

use strata::config::{Backend, DatabaseUrl};
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Yaml {
    let docs = YamlLoader::load_from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml is YAML");
    assert_eq!(docs.len(), 1, "one document");
    docs.into_iter().next().unwrap()
}

fn service<'a>(doc: &'a Yaml, name: &str) -> &'a Yaml {
    let s = &doc["services"][name];
    assert!(s.as_hash().is_some(), "service {name} is defined");
    s
}

/// A scalar as text (compose accepts numbers and booleans where it means strings).
fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `environment:` as a map, written either as a mapping or as a list of `KEY=VALUE`.
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match &service["environment"] {
        Yaml::Hash(h) => h.iter().map(|(k, v)| (text(k).unwrap(), text(v).unwrap_or_default())).collect(),
        Yaml::Array(items) => items
            .iter()
            .map(|i| {
                let item = text(i).unwrap();
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A list of strings (`ports`, `volumes`, `profiles`, an exec-form `test`).
fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec().map(|v| v.iter().filter_map(text).collect()).unwrap_or_default()
}

fn healthcheck_test(service: &Yaml) -> String {
    match &service["healthcheck"]["test"] {
        Yaml::Array(_) => strings(&service["healthcheck"]["test"]).join(" "),
        other => text(other).unwrap_or_default(),
    }
}

#[test]
fn postgres_17_keeps_its_data_in_a_named_volume_and_reports_health_with_pg_isready() {
    let doc = compose();
    let db = service(&doc, "db");
    assert!(text(&db["image"]).unwrap().starts_with("postgres:17"));
    assert!(strings(&db["volumes"]).contains(&"pgdata:/var/lib/postgresql/data".to_string()));
    assert!(doc["volumes"].as_hash().unwrap().contains_key(&Yaml::String("pgdata".into())), "a named volume");
    assert!(healthcheck_test(db).contains("pg_isready"), "{}", healthcheck_test(db));
    assert!(db["profiles"].is_badvalue(), "the database always runs");
    let ports = strings(&db["ports"]);
    assert!(ports.iter().all(|p| p.starts_with("127.0.0.1:")), "a known password stays on loopback: {ports:?}");
}

#[test]
fn strata_is_built_here_waits_for_a_healthy_database_migrates_and_serves_8080() {
    let doc = compose();
    let strata = service(&doc, "strata");
    let build = text(&strata["build"]).or_else(|| text(&strata["build"]["context"]));
    assert_eq!(build.as_deref(), Some("."), "built from the repository's Dockerfile");
    assert_eq!(text(&strata["depends_on"]["db"]["condition"]).as_deref(), Some("service_healthy"));
    assert!(strings(&strata["ports"]).contains(&"8080:8080".to_string()));
    let env = environment(strata);
    assert_eq!(env["DATABASE_URL"], "postgresql://pguser:pgpass@db:5432/pgadmin", "the seed URL as written");
    assert!(env["STRATA_LISTEN"].ends_with(":8080") && env["STRATA_LISTEN"].starts_with("0.0.0.0"));
    let migrates = env.get("STRATA_MIGRATE_ON_START").map(|v| strata::config::parse_bool(v) == Some(true));
    assert_ne!(migrates, Some(false), "migrations run at start");
    assert!(!strings(&strata["command"]).contains(&"--no-migrate".to_string()));
    assert_eq!(healthcheck_test(strata), "CMD strata healthcheck");
    assert!(strata["profiles"].is_badvalue(), "Strata always runs");
    let allowed = strata::config::net::parse_list(&env["STRATA_METRICS_ALLOW"]).expect("a valid metrics_allow");
    assert!(allowed.iter().any(|r| r.contains("172.18.0.1".parse().unwrap())), "the host reaches /metrics");
}

#[test]
fn the_database_url_names_the_credentials_and_database_postgres_is_created_with() {
    let doc = compose();
    let pg = environment(service(&doc, "db"));
    let url = DatabaseUrl::parse(&environment(service(&doc, "strata"))["DATABASE_URL"]).unwrap();
    assert_eq!(url.backend(), Backend::Postgres);
    let parsed = url::Url::parse(url.connect_url()).unwrap();
    assert_eq!(parsed.username(), pg["POSTGRES_USER"]);
    assert_eq!(parsed.password(), Some(pg["POSTGRES_PASSWORD"].as_str()));
    assert_eq!(url.database_name().as_deref(), Some(pg["POSTGRES_DB"].as_str()));
    assert_eq!(parsed.host_str(), Some("db"));
}

#[test]
fn every_database_url_is_one_strata_accepts_and_names_a_service_it_waits_for() {
    let doc = compose();
    let mut seen = 0;
    for (name, service) in doc["services"].as_hash().unwrap() {
        let name = text(name).unwrap();
        let Some(raw) = environment(service).get("DATABASE_URL").cloned() else { continue };
        seen += 1;
        let url = DatabaseUrl::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let host = url::Url::parse(url.connect_url()).unwrap().host_str().unwrap().to_string();
        assert!(doc["services"][host.as_str()].as_hash().is_some(), "{name}: {host} is a service of this file");
        assert_eq!(
            text(&service["depends_on"][host.as_str()]["condition"]).as_deref(),
            Some("service_healthy"),
            "{name} waits for {host} to be healthy"
        );
        assert!(!healthcheck_test(&doc["services"][host.as_str()]).is_empty(), "{host} has a health check");
    }
    assert!(seen >= 2, "the PostgreSQL and the MariaDB Strata");
}

#[test]
fn mariadb_is_optional_behind_a_profile() {
    let doc = compose();
    for name in ["mariadb", "strata-mariadb"] {
        assert_eq!(strings(&service(&doc, name)["profiles"]), ["mariadb"], "{name}");
    }
    let mariadb = service(&doc, "mariadb");
    assert!(text(&mariadb["image"]).unwrap().starts_with("mariadb:"));
    assert!(healthcheck_test(mariadb).contains("healthcheck.sh"));
    let url = DatabaseUrl::parse(&environment(service(&doc, "strata-mariadb"))["DATABASE_URL"]).unwrap();
    assert_eq!(url.backend(), Backend::MySql);
    assert_eq!(url.database_name().as_deref(), Some(environment(mariadb)["MARIADB_DATABASE"].as_str()));
}

/// The Dockerfile's instructions, continuation lines joined, comments and parser directives dropped.
fn instructions() -> Vec<(String, String)> {
    let text = repo_file("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (word, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (word.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_with_rust_and_runs_slim_as_a_non_root_user_with_a_health_check() {
    let all = instructions();
    let stages: Vec<usize> = all.iter().enumerate().filter(|(_, (w, _))| w == "FROM").map(|(i, _)| i).collect();
    assert!(stages.len() >= 2, "multi-stage: {all:?}");
    let build = &all[stages[0]].1;
    assert!(build.starts_with("rust:") && build.to_lowercase().contains(" as build"), "{build}");
    let last = &all[*stages.last().unwrap()..];
    let runtime = &last[0].1;
    assert!(runtime.contains("-slim") || runtime.contains("distroless"), "a slim final image: {runtime}");
    assert!(last.iter().any(|(w, a)| w == "COPY" && a.starts_with("--from=build")), "the binary comes from the build");
    let user = last.iter().rev().find(|(w, _)| w == "USER").map(|(_, a)| a.clone()).expect("a USER");
    let who = user.split(':').next().unwrap();
    assert!(who != "root" && who != "0", "runs as {user}");
    let healthcheck = last.iter().find(|(w, _)| w == "HEALTHCHECK").expect("a HEALTHCHECK").1.clone();
    assert!(healthcheck.contains(r#"["strata", "healthcheck"]"#), "{healthcheck}");
    assert!(last.iter().any(|(w, a)| w == "EXPOSE" && a == "8080"));
    let cmd = last.iter().rev().find(|(w, _)| w == "CMD").expect("a CMD").1.clone();
    assert_eq!(cmd, r#"["strata", "serve"]"#, "exec form, so signals reach strata");
    assert_eq!(last.last().unwrap().0, "CMD");
    assert!(last.iter().skip_while(|(w, _)| w != "USER").all(|(w, _)| w != "RUN"), "nothing runs as root after USER");
}

#[test]
fn the_build_context_leaves_out_target_and_local_data() {
    let ignore = repo_file(".dockerignore");
    let entries: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    for must in ["target", "data", ".git"] {
        assert!(
            entries.iter().any(|e| e.trim_start_matches('/').trim_end_matches('/') == must),
            "{must} is excluded: {entries:?}"
        );
    }
}

#[test]
fn each_strata_keeps_its_key_file_in_a_named_volume_its_user_owns() {
    let doc = compose();
    for (service, volume) in [("strata", "stratadata"), ("strata-mariadb", "stratadata-mariadb")] {
        let mount = format!("{volume}:/var/lib/strata/data");
        assert!(strings(&doc["services"][service]["volumes"]).contains(&mount), "{service} mounts {mount}");
        assert!(doc["volumes"].as_hash().unwrap().contains_key(&Yaml::String(volume.into())), "{volume} is declared");
    }
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.contains("install -d -o strata -g strata -m 0700 /var/lib/strata/data"),
        "the image makes the key file's folder, owned by the strata user, so the volume starts with that owner"
    );
}

#[test]
fn strata_keeps_its_home_in_a_named_volume_apart_from_the_database_it_watches() {
    let doc = compose();
    for name in ["strata", "strata-mariadb"] {
        let strata = service(&doc, name);
        let env = environment(strata);
        let home = strata::config::DatabaseUrl::parse(&env["STRATA_HOME_URL"]).expect("a home URL");
        let path = home.sqlite_path().expect("a SQLite home file").display().to_string();
        let volume = strings(&strata["volumes"])
            .into_iter()
            .find(|v| v.ends_with(":/var/lib/strata/data"))
            .unwrap_or_else(|| panic!("{name} mounts a volume at /var/lib/strata/data"));
        let (volume, _) = volume.split_once(':').unwrap();
        assert!(path.starts_with("/var/lib/strata/data/"), "{name}: the home {path} is in the volume");
        assert!(doc["volumes"].as_hash().unwrap().contains_key(&Yaml::String(volume.into())), "{volume} is named");
        assert_ne!(env["STRATA_HOME_URL"], env["DATABASE_URL"], "{name}: the home is not the watched database");
    }
}
