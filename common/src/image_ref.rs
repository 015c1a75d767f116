//! Container image references, `[host[:port]/]path[:tag][@sha256:<64 hex>]`: the one validator of
//! the workspace. The grammar is Docker's (distribution `reference`), the normalisation
//! go-containerregistry's (`alpine` → `index.docker.io/library/alpine:latest`; the first path
//! element is a registry host only when it holds `.` or `:` or is `localhost`, so `UPPER/x` is a
//! Docker Hub repository with an upper-case letter, which is refused).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// Docker Hub's registry host after normalisation.
pub const DOCKER_HUB: &str = "index.docker.io";
/// Longest repository name with its host (Docker's limit).
const NAME_MAX_LEN: usize = 255;
/// Longest tag.
const TAG_MAX_LEN: usize = 128;
const DIGEST_PREFIX: &str = "sha256:";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host with its port (`index.docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path without the host (`library/alpine`).
    pub repository: String,
    /// The tag (`latest` when none is written), or the digest (`sha256:…`) when one is written; a
    /// tag written together with a digest is dropped, as go-containerregistry does.
    pub reference: String,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ImageRefError {
    input: String,
    reason: &'static str,
}

impl ImageRefError {
    /// The rule the reference breaks.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl ImageRef {
    /// Parses `[host[:port]/]path[:tag][@sha256:<64 hex>]`.
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        let err = |reason| ImageRefError {
            input: input.to_string(),
            reason,
        };
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                if !is_digest(digest) {
                    return Err(err(
                        "a digest is sha256: followed by 64 lower-case hex digits",
                    ));
                }
                (name, Some(digest))
            }
            None => (input, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let colon = last_slash + i;
                (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
            }
            None => (name_and_tag, None),
        };
        if tag.is_some_and(|t| !is_tag(t)) {
            return Err(err(
                "a tag is 1 to 128 characters of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
        if name.len() > NAME_MAX_LEN {
            return Err(err("the name is longer than 255 characters"));
        }
        let (host, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (Some(first), rest)
            }
            _ => (None, name),
        };
        if host.is_some_and(|h| !is_host(h)) {
            return Err(err(
                "the registry is host[:port] (letters, digits, '-' and '.', or [IPv6]) with a port of 1 to 65535",
            ));
        }
        if !path.split('/').all(is_path_component) {
            return Err(err(
                "repository path components are lower-case letters and digits, separated by '.', '_', '__' or dashes",
            ));
        }
        let registry = match host {
            None | Some("docker.io") => DOCKER_HUB,
            Some(h) => h,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let reference = digest.or(tag).unwrap_or("latest");
        Ok(Self {
            registry: registry.to_string(),
            repository,
            reference: reference.to_string(),
        })
    }

    /// The reference is a digest (`sha256:…`) rather than a tag.
    pub fn is_digest(&self) -> bool {
        self.reference.starts_with(DIGEST_PREFIX)
    }
}

/// Checks `input` and gives it back as written (not normalised): for flags and config values
/// that are passed on to other programs. Usable as a clap `value_parser`.
pub fn checked(input: &str) -> Result<String, ImageRefError> {
    ImageRef::parse(input).map(|_| input.to_string())
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.is_digest() { '@' } else { ':' };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix(DIGEST_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !s.is_empty()
        && s.len() <= TAG_MAX_LEN
        && word(s.as_bytes()[0])
        && s.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    bytes
        .split(alnum)
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|b| *b == b'-'))
}

/// `domain[:port]` with domain labels `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`, or `[IPv6][:port]`.
fn is_host(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').is_some_and(|(ip, after)| {
            ip.parse::<Ipv6Addr>().is_ok()
                && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port))
        });
    }
    let (domain, port) = match s.split_once(':') {
        Some((domain, port)) => (domain, Some(port)),
        None => (s, None),
    };
    port.is_none_or(is_port) && domain.split('.').all(is_domain_label)
}

fn is_domain_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// A decimal port from 1 to 65535.
fn is_port(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digest() -> String {
        format!("sha256:{}", "0123456789abcdef".repeat(4))
    }

    #[test]
    fn docker_hub_normalisation() {
        let show = |s: &str| ImageRef::parse(s).unwrap().to_string();
        assert_eq!(show("alpine"), "index.docker.io/library/alpine:latest");
        assert_eq!(
            show("docker.io/library/alpine:3.18.3"),
            "index.docker.io/library/alpine:3.18.3"
        );
        assert_eq!(
            show("docker.io/alpine"),
            "index.docker.io/library/alpine:latest"
        );
        assert_eq!(
            show("index.docker.io/alpine:3"),
            "index.docker.io/library/alpine:3"
        );
        assert_eq!(
            show("k8sschool/ktbx:v1"),
            "index.docker.io/k8sschool/ktbx:v1"
        );
        assert_eq!(
            show("param_image"),
            "index.docker.io/library/param_image:latest"
        );
    }

    #[test]
    fn registries_ports_and_digests() {
        let r = ImageRef::parse("127.0.0.1:5000/fink/img:v1").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("127.0.0.1:5000", "fink/img", "v1")
        );
        assert_eq!(
            ImageRef::parse("localhost/a:b").unwrap().registry,
            "localhost"
        );
        assert_eq!(
            ImageRef::parse("[::1]:5000/a").unwrap().registry,
            "[::1]:5000"
        );
        assert_eq!(
            ImageRef::parse("gitlab-registry.in2p3.fr/astrolabsoftware/fink/spark-py:k8s-3.4.1")
                .unwrap()
                .repository,
            "astrolabsoftware/fink/spark-py"
        );
        let d = ImageRef::parse(&format!("a/b@{}", digest())).unwrap();
        assert!(d.is_digest());
        assert_eq!(d.to_string(), format!("index.docker.io/a/b@{}", digest()));
        // kind's documented form: a tag and a digest; the digest wins.
        let k = ImageRef::parse(&format!("kindest/node:v1.35.0@{}", digest())).unwrap();
        assert_eq!(
            (k.repository.as_str(), k.reference.as_str()),
            ("kindest/node", digest().as_str())
        );
        assert_eq!(
            "a_b__c.d-e---f".parse::<ImageRef>().unwrap().repository,
            "library/a_b__c.d-e---f"
        );
    }

    #[test]
    fn invalid_references_say_which_rule() {
        let reason = |s: &str| ImageRef::parse(s).unwrap_err().reason();
        for bad in [
            "UPPER/x",
            "Upper",
            "x/Y",
            "",
            "/name:tag",
            "a//b",
            "a/",
            "a/:t",
            "-a",
            "a-",
            "a..b",
            "a._b",
            "a___b",
            "a b",
            "a\nb",
            "a;id",
            "a/$(id)",
            "a::b",
        ] {
            assert!(
                reason(bad).starts_with("repository path"),
                "{bad:?}: {}",
                reason(bad)
            );
        }
        for bad in [
            "a:",
            "a:-x",
            "a:.x",
            "a:x\n",
            "a:x y",
            &format!("a:{}", "t".repeat(129)),
        ] {
            assert!(reason(bad).starts_with("a tag"), "{bad:?}: {}", reason(bad));
        }
        for bad in [
            "x@sha256:12",
            "x@sha256:",
            "x@md5:0123",
            &format!("x@sha256:{}", "A".repeat(64)),
            &format!("x@{}@{}", digest(), digest()),
            &format!("x@{}\n", digest()),
        ] {
            assert!(
                reason(bad).starts_with("a digest"),
                "{bad:?}: {}",
                reason(bad)
            );
        }
        for bad in [
            "-h.io/a",
            "h-.io/a",
            "h..io/a",
            "h.io:0/a",
            "h.io:99999/a",
            "h.io:/a",
            "h_x.io/a",
            "[zz:1]/a",
            "[::1]x/a",
        ] {
            assert!(
                reason(bad).starts_with("the registry"),
                "{bad:?}: {}",
                reason(bad)
            );
        }
        let long = format!("r.io/{}", "a".repeat(251));
        assert_eq!(reason(&long), "the name is longer than 255 characters");
        assert_eq!(
            ImageRef::parse("UPPER/x").unwrap_err().to_string(),
            "invalid image reference \"UPPER/x\": repository path components are lower-case letters and digits, separated by '.', '_', '__' or dashes"
        );
        assert_eq!(
            checked("kindest/node:v1.35.0").unwrap(),
            "kindest/node:v1.35.0"
        );
        assert!(checked("x@sha256:12").is_err());
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,4}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,2}"
    }

    fn valid_reference() -> impl Strategy<Value = String> {
        (
            proptest::option::of("(localhost|[a-z0-9]{1,5}\\.[a-z]{2,3})(:[1-9][0-9]{0,3})?"),
            proptest::collection::vec(component(), 1..4),
            proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            proptest::option::of("[0-9a-f]{64}"),
        )
            .prop_map(|(host, path, tag, digest)| {
                // Without a host, a first component with a dot would be taken for one.
                let host = host.or_else(|| path[0].contains('.').then(|| "docker.io".to_string()));
                let mut s = host.map(|h| format!("{h}/")).unwrap_or_default();
                s.push_str(&path.join("/"));
                if let Some(t) = tag {
                    s.push(':');
                    s.push_str(&t);
                }
                if let Some(d) = digest {
                    s.push_str("@sha256:");
                    s.push_str(&d);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn valid_references_parse_and_normalise_stably(s in valid_reference()) {
            let r = ImageRef::parse(&s).unwrap();
            prop_assert_eq!(ImageRef::parse(&r.to_string()), Ok(r));
        }

        #[test]
        fn any_string_is_parsed_or_refused_without_panic(s in "\\PC{0,40}") {
            if let Ok(r) = ImageRef::parse(&s) {
                // Whatever is accepted is plain ASCII without whitespace or shell characters.
                prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/:@._-[]".contains(&b)), "{s:?}");
                prop_assert_eq!(ImageRef::parse(&r.to_string()), Ok(r));
            }
        }

        #[test]
        fn an_upper_case_or_control_character_in_the_path_is_refused(
            s in valid_reference(), c in "[A-Z\\n\\t ;$]"
        ) {
            let (name, _) = s.split_once(['@']).unwrap_or((&s, ""));
            let name_end = name.rfind(':').filter(|i| !name[*i..].contains('/')).unwrap_or(name.len());
            let bad = format!("{}{c}{}", &s[..name_end], &s[name_end..]);
            prop_assert!(ImageRef::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
