//! The embedded backend: bulwark's Rego evaluated in-process with regorus, so a fresh
//! install decides without a server. The modules are the copy of `policies/` built into
//! the binary, or the `*.rego` files and `data.json` of `policy.policies_dir`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bounded_read::{read_path_bounded, BoundedReadError};

/// policies/ as built into the binary (test modules excluded).
const BUILT_IN: [(&str, &str); 6] = [
    (
        "decision.rego",
        include_str!("../../policies/decision.rego"),
    ),
    (
        "data_shape.rego",
        include_str!("../../policies/data_shape.rego"),
    ),
    ("lib.rego", include_str!("../../policies/lib.rego")),
    ("secrets.rego", include_str!("../../policies/secrets.rego")),
    ("shape.rego", include_str!("../../policies/shape.rego")),
    ("task.rego", include_str!("../../policies/task.rego")),
];
const BUILT_IN_DATA: &str = include_str!("../../policies/data.json");

/// A policy file larger than this is refused: policies are text written by people.
const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot list the policies in {path}: {source}")]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: BoundedReadError,
    },
    #[error("{path} is not UTF-8")]
    Encoding { path: PathBuf },
    #[error("policies_dir {0} holds no .rego module")]
    Empty(PathBuf),
    #[error("policy {name}: {message}")]
    Compile { name: String, message: String },
    #[error("policy data: {0}")]
    Data(String),
    #[error("evaluating {query}: {message}")]
    Eval { query: String, message: String },
}

/// The Rego modules and data a decision is made with.
pub struct PolicySet {
    modules: Vec<(String, String)>,
    data: String,
    /// sha256 over every module (by name) and the data, for audit records.
    pub digest: String,
}

impl PolicySet {
    pub fn built_in() -> Self {
        let modules = BUILT_IN
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect();
        Self::new(modules, BUILT_IN_DATA.to_owned())
    }

    /// `*.rego` (not `*_test.rego`) and `data.json` (optional) of `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, EmbeddedError> {
        let list = |source| EmbeddedError::List {
            path: dir.to_owned(),
            source,
        };
        let mut modules = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(list)? {
            let path = entry.map_err(list)?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.ends_with(".rego") && !name.ends_with("_test.rego") {
                modules.push((name, read_text(&path)?));
            }
        }
        if modules.is_empty() {
            return Err(EmbeddedError::Empty(dir.to_owned()));
        }
        let data_path = dir.join("data.json");
        let data = if data_path.exists() {
            read_text(&data_path)?
        } else {
            "{}".to_owned()
        };
        Ok(Self::new(modules, data))
    }

    fn new(mut modules: Vec<(String, String)>, data: String) -> Self {
        modules.sort();
        let mut hash = Sha256::new();
        for (name, text) in &modules {
            hash.update((name.len() as u64).to_le_bytes());
            hash.update(name);
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text);
        }
        hash.update(&data);
        Self {
            modules,
            data,
            digest: format!("sha256:{:x}", hash.finalize()),
        }
    }

    /// Evaluates `data.<path with dots>` for `input`; None when undefined.
    pub fn evaluate(
        &self,
        decision_path: &str,
        input: &Value,
    ) -> Result<Option<Value>, EmbeddedError> {
        self.load()?.evaluate(decision_path, input)
    }

    /// A regorus engine holding the modules and data, parsed and analysed: everything
    /// a decision costs that does not depend on the input (most of it, see
    /// docs/benchmarks.md), so that it can be done while the input is being built.
    pub fn load(&self) -> Result<Loaded, EmbeddedError> {
        let mut engine = regorus::Engine::new();
        for (name, text) in &self.modules {
            engine
                .add_policy(name.clone(), text.clone())
                .map_err(|e| EmbeddedError::Compile {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
        }
        engine
            .add_data_json(&self.data)
            .map_err(|e| EmbeddedError::Data(e.to_string()))?;
        // regorus analyses the modules (rule scheduling, imports, loop hoisting) on an
        // engine's first query and keeps the result until a policy or data changes, not
        // when the input does (regorus 0.11 engine.rs prepare_for_eval, set_input). The
        // query `true` reads no rule and no data, so nothing it evaluates is kept.
        engine
            .eval_query("true".to_owned(), false)
            .map_err(|e| EmbeddedError::Compile {
                name: "(analysis)".to_owned(),
                message: e.to_string(),
            })?;
        Ok(Loaded {
            engine,
            digest: self.digest.clone(),
        })
    }
}

/// The policies loaded into an engine ([`PolicySet::load`]), ready for one decision.
pub struct Loaded {
    engine: regorus::Engine,
    /// The digest of the [`PolicySet`] it was loaded from.
    pub digest: String,
}

impl Loaded {
    /// Evaluates `data.<path with dots>` for `input`; None when undefined.
    pub fn evaluate(
        mut self,
        decision_path: &str,
        input: &Value,
    ) -> Result<Option<Value>, EmbeddedError> {
        let query = format!("data.{}", decision_path.replace('/', "."));
        let eval = |message: String| EmbeddedError::Eval {
            query: query.clone(),
            message,
        };
        self.engine
            .set_input_json(&input.to_string())
            .map_err(|e| eval(e.to_string()))?;
        let results = self
            .engine
            .eval_query(query.clone(), false)
            .map_err(|e| eval(e.to_string()))?;
        let Some(expression) = results.result.first().and_then(|r| r.expressions.first()) else {
            return Ok(None);
        };
        if expression.value == regorus::Value::Undefined {
            return Ok(None);
        }
        let json = expression
            .value
            .to_json_str()
            .map_err(|e| eval(e.to_string()))?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| eval(e.to_string()))
    }
}

fn read_text(path: &Path) -> Result<String, EmbeddedError> {
    let bytes =
        read_path_bounded(path, MAX_POLICY_BYTES).map_err(|source| EmbeddedError::Read {
            path: path.to_owned(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|_| EmbeddedError::Encoding {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every decision case in policies/cases gives, in regorus, exactly the decision the
    /// real OPA evaluator gives (integration/opa/run_policy_tests.py checks the same
    /// files against OPA).
    #[test]
    fn regorus_agrees_with_every_policy_case() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/cases");
        let policies = PolicySet::built_in();
        let mut failures = Vec::new();
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let got = policies.evaluate("bulwark/decision", &case["input"]);
            match got {
                Ok(Some(decision)) if decision == case["expected"] => {}
                other => failures.push(format!(
                    "{}: got {other:?}, want {}",
                    path.display(),
                    case["expected"]
                )),
            }
            count += 1;
        }
        assert!(count >= 20, "only {count} cases");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn a_policies_dir_needs_a_module_and_skips_tests() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            PolicySet::from_dir(dir.path()),
            Err(EmbeddedError::Empty(_))
        ));
        std::fs::write(dir.path().join("x_test.rego"), "package x\n").unwrap();
        assert!(PolicySet::from_dir(dir.path()).is_err());
        std::fs::write(
            dir.path().join("allow.rego"),
            "package bulwark.decision\nimport rego.v1\nallow := true\nreasons := []\n",
        )
        .unwrap();
        let set = PolicySet::from_dir(dir.path()).unwrap();
        let decision = set
            .evaluate("bulwark/decision", &serde_json::json!({}))
            .unwrap();
        assert_eq!(
            decision,
            Some(serde_json::json!({"allow": true, "reasons": []}))
        );
    }
}
