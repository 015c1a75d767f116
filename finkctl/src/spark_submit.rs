//! The spark-submit command as one token model: printed as the original's multi-line text for
//! `--dry-run` (byte for byte), and turned into an argv (no shell, no quotes) to run it.

use std::path::Path;

use common::process::Cmd;

use crate::spark_job::{
    AppArg, Conf, ConfStyle, Cpu, DRIVER_JAVA_OPTIONS, SparkJob, executor_jaas_java_options,
};

/// Part of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Printed as is (quoted only if the shell would otherwise split or expand it).
    Text(String),
    /// Printed between double quotes.
    Quoted(String),
}

/// One argv element, made of pieces (`key="value"` is `Text("key=")` + `Quoted("value")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) Vec<Piece>);

impl Token {
    fn text(s: impl Into<String>) -> Self {
        Self(vec![Piece::Text(s.into())])
    }

    fn quoted(s: impl Into<String>) -> Self {
        Self(vec![Piece::Quoted(s.into())])
    }

    fn value(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(s) | Piece::Quoted(s) => s.as_str(),
            })
            .collect()
    }

    fn render(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(s) if is_shell_safe(s) => s.clone(),
                Piece::Text(s) | Piece::Quoted(s) => double_quote(s),
            })
            .collect()
    }
}

fn is_shell_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
}

fn double_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The spark-submit command, grouped in printed lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SparkSubmit {
    lines: Vec<Vec<Token>>,
    secrets: Vec<String>,
}

impl SparkSubmit {
    /// Builds the command for `job`, submitted to the API server `server` (raw kubeconfig
    /// string); `pod_template` is the executor pod template file (distribution).
    pub(crate) fn new(job: &SparkJob, server: &str, pod_template: Option<&Path>) -> Self {
        let mut lines = vec![vec![
            Token::text("spark-submit"),
            Token::text("--master"),
            Token::quoted(format!("k8s://{server}")),
        ]];
        lines.push(vec![Token::text("--deploy-mode"), Token::text("cluster")]);
        let mut confs = vec![
            Conf {
                key: "spark.executor.instances".into(),
                value: "1".into(),
                style: ConfStyle::Bare,
            },
            conf(
                "spark.kubernetes.namespace",
                &job.namespace,
                ConfStyle::Bare,
            ),
            conf(
                "spark.kubernetes.authenticate.driver.serviceAccountName",
                &job.service_account,
                ConfStyle::Bare,
            ),
            conf(
                "spark.kubernetes.container.image",
                &job.image,
                ConfStyle::QuotedValue,
            ),
            conf(
                "spark.driver.extraJavaOptions",
                DRIVER_JAVA_OPTIONS,
                ConfStyle::QuotedValue,
            ),
        ];
        confs.extend(job.storage.iter().cloned());
        if job.kafka_jaas {
            if let Some(template) = pod_template {
                confs.push(conf(
                    "spark.kubernetes.executor.podTemplateFile",
                    &template.display().to_string(),
                    ConfStyle::Bare,
                ));
            }
            confs.push(conf(
                "spark.executor.extraJavaOptions",
                &executor_jaas_java_options(),
                ConfStyle::QuotedWhole,
            ));
        }
        if !job.instances.is_empty() {
            confs.push(conf(
                "spark.executor.instances",
                &job.instances,
                ConfStyle::Bare,
            ));
        }
        if !job.memory.is_empty() {
            confs.push(conf("spark.driver.memory", &job.memory, ConfStyle::Bare));
            confs.push(conf("spark.executor.memory", &job.memory, ConfStyle::Bare));
        }
        match &job.cpu {
            Cpu::Unset => {}
            Cpu::ZeroRequest => {
                confs.push(conf(
                    "spark.kubernetes.driver.request.cores",
                    "0",
                    ConfStyle::Bare,
                ));
                confs.push(conf(
                    "spark.kubernetes.executor.request.cores",
                    "0",
                    ConfStyle::Bare,
                ));
            }
            Cpu::Cores(cores) => {
                confs.push(conf("spark.driver.cores", cores, ConfStyle::Bare));
                confs.push(conf("spark.executor.cores", cores, ConfStyle::Bare));
            }
        }
        lines.extend(
            confs
                .iter()
                .map(|c| vec![Token::text("--conf"), conf_token(c)]),
        );
        lines.push(vec![Token::text(job.main_file.as_str())]);
        for line in &job.arg_lines {
            lines.push(
                line.iter()
                    .flat_map(|arg| match arg {
                        AppArg::Option(flag, value) => {
                            vec![Token::text(flag.as_str()), Token::quoted(value.as_str())]
                        }
                        AppArg::Flag(flag) | AppArg::Raw(flag) => vec![Token::text(flag.as_str())],
                    })
                    .collect(),
            );
        }
        let secrets = confs
            .iter()
            .filter(|c| c.style == ConfStyle::SecretValue && !c.value.is_empty())
            .map(|c| c.value.clone())
            .collect();
        Self { lines, secrets }
    }

    /// Adds `--conf key=value` lines after `--deploy-mode cluster` (confs of a real run that the
    /// goldens of `--dry-run` do not carry).
    pub(crate) fn with_confs(mut self, confs: &[(&str, &str)]) -> Self {
        let lines = confs
            .iter()
            .map(|(key, value)| {
                vec![
                    Token::text("--conf"),
                    conf_token(&conf(key, value, ConfStyle::Bare)),
                ]
            })
            .collect::<Vec<_>>();
        self.lines.splice(2..2, lines);
        self
    }

    /// The original's text: continuation lines indented by four spaces and ending with ` \`,
    /// one final newline. Secrets are shown (the goldens carry them).
    pub(crate) fn to_text(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|line| line.iter().map(Token::render).collect::<Vec<_>>().join(" "))
            .collect();
        format!("{}\n", lines.join(" \\\n    "))
    }

    /// The argv, program first, without shell quotes.
    pub(crate) fn argv(&self) -> Vec<String> {
        self.lines.iter().flatten().map(Token::value).collect()
    }

    /// The command to run (no shell); the S3 keys are masked wherever it is logged.
    pub(crate) fn command(&self) -> Cmd {
        let argv = self.argv();
        let mut cmd = Cmd::new(&argv[0])
            .args(&argv[1..])
            .hint("install Spark and add $SPARK_HOME/bin to PATH");
        for secret in &self.secrets {
            cmd = cmd.secret(secret.as_str());
        }
        cmd
    }
}

fn conf(key: &str, value: &str, style: ConfStyle) -> Conf {
    Conf {
        key: key.to_string(),
        value: value.to_string(),
        style,
    }
}

fn conf_token(c: &Conf) -> Token {
    let key = format!("{}=", c.key);
    match c.style {
        ConfStyle::Bare => Token::text(format!("{key}{}", c.value)),
        ConfStyle::QuotedValue | ConfStyle::SecretValue => {
            Token(vec![Piece::Text(key), Piece::Quoted(c.value.clone())])
        }
        ConfStyle::QuotedWhole => Token::quoted(format!("{key}{}", c.value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_unsafe_values_are_quoted_and_escaped_in_text_but_not_in_argv() {
        let t = Token(vec![
            Piece::Text("k=".into()),
            Piece::Quoted("a\"$b`c\\".into()),
        ]);
        assert_eq!(t.render(), r#"k="a\"\$b\`c\\""#);
        assert_eq!(t.value(), "k=a\"$b`c\\");
        assert_eq!(Token::text("a b").render(), "\"a b\"");
        assert_eq!(Token::text("").render(), "\"\"");
    }
}
