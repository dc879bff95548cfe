//! JSON bodies of `INFO` (server -> client) and `CONNECT` (client -> server).

use super::parse::ProtoError;
use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// `lang` sent in `CONNECT`.
pub const CLIENT_LANG: &str = "C";
/// `version` sent in `CONNECT` (the cnats version this library replaces).
pub const CLIENT_VERSION: &str = "3.13.0";
/// `protocol` sent in `CONNECT` (1: supports async INFO updates).
pub const CLIENT_PROTOCOL: i32 = 1;

/// Server `INFO`. Every field is optional; unknown fields are ignored, and
/// so are fields whose JSON type is unexpected (they keep their default),
/// like cnats, which only extracts the fields it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub server_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub server_name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub version: String,
    #[serde(deserialize_with = "lenient_string")]
    pub go: String,
    #[serde(deserialize_with = "lenient_string")]
    pub host: String,
    #[serde(deserialize_with = "lenient_i32")]
    pub port: i32,
    #[serde(deserialize_with = "lenient_bool")]
    pub headers: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub auth_required: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub tls_required: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub tls_verify: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub tls_available: bool,
    #[serde(deserialize_with = "lenient_i64")]
    pub max_payload: i64,
    #[serde(deserialize_with = "lenient_i32")]
    pub proto: i32,
    #[serde(deserialize_with = "lenient_u64")]
    pub client_id: u64,
    #[serde(deserialize_with = "lenient_string")]
    pub client_ip: String,
    #[serde(deserialize_with = "lenient_string")]
    pub nonce: String,
    #[serde(deserialize_with = "lenient_string")]
    pub cluster: String,
    #[serde(deserialize_with = "lenient_strings")]
    pub connect_urls: Vec<String>,
    /// Lame duck mode.
    #[serde(deserialize_with = "lenient_bool")]
    pub ldm: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub jetstream: bool,
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        _ => String::new(),
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(Value::deserialize(d)?, Value::Bool(true)))
}

/// Integers, also accepting floats with an integral value range.
fn number_i128(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i128)),
        _ => None,
    }
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(number_i128(&v)
        .and_then(|n| i64::try_from(n).ok())
        .unwrap_or(0))
}

fn lenient_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(number_i128(&v)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0))
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(number_i128(&v)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0))
}

fn lenient_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// Decode the JSON of an `INFO` operation (see [`super::ServerOp::Info`]).
/// The JSON must be an object.
pub fn parse_info(json: &[u8]) -> Result<ServerInfo, ProtoError> {
    let value: Value =
        serde_json::from_slice(json).map_err(|e| ProtoError::InvalidInfo(e.to_string()))?;
    if !value.is_object() {
        return Err(ProtoError::InvalidInfo("not a JSON object".into()));
    }
    ServerInfo::deserialize(value).map_err(|e| ProtoError::InvalidInfo(e.to_string()))
}

/// Body of the client's `CONNECT`, with the fields cnats sends, in the same
/// order. Optional credentials are omitted when `None`; `name` is always
/// sent (as `""` when `None`), as cnats does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectInfo {
    pub verbose: bool,
    pub pedantic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    pub tls_required: bool,
    #[serde(serialize_with = "name_or_empty")]
    pub name: Option<String>,
    pub lang: String,
    pub version: String,
    pub protocol: i32,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
}

fn name_or_empty<S: Serializer>(name: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name.as_deref().unwrap_or(""))
}

impl Default for ConnectInfo {
    fn default() -> Self {
        ConnectInfo {
            verbose: false,
            pedantic: false,
            nkey: None,
            jwt: None,
            sig: None,
            user: None,
            pass: None,
            auth_token: None,
            tls_required: false,
            name: None,
            lang: CLIENT_LANG.to_owned(),
            version: CLIENT_VERSION.to_owned(),
            protocol: CLIENT_PROTOCOL,
            echo: true,
            headers: true,
            no_responders: true,
        }
    }
}

impl ConnectInfo {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings/bools/ints into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Append the whole `CONNECT {json}\r\n` operation, serializing the
    /// JSON directly into `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(b"CONNECT ");
        let mut w = out.writer();
        // Writing into a BytesMut cannot fail (see `to_json`).
        let _ = serde_json::to_writer(&mut w, self);
        let out = w.into_inner();
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode::encode_connect;
    use super::*;

    #[test]
    fn parse_full_info() {
        let json = br#"{"server_id":"NABC","server_name":"srv1","version":"2.10.7","proto":1,
            "git_commit":"fe2fd0e","go":"go1.21.5","host":"0.0.0.0","port":4222,"headers":true,
            "auth_required":true,"tls_required":false,"tls_verify":false,"tls_available":true,
            "max_payload":1048576,"jetstream":true,"client_id":18446744073709551615,
            "client_ip":"127.0.0.1","nonce":"abc-_","cluster":"c1",
            "connect_urls":["10.0.0.1:4222","10.0.0.2:4222"],"ldm":true,"xkey":"X","unknown":{"a":[1,2]}}"#;
        let i = parse_info(json).unwrap();
        assert_eq!(i.server_id, "NABC");
        assert_eq!(i.server_name, "srv1");
        assert_eq!(i.version, "2.10.7");
        assert_eq!(i.go, "go1.21.5");
        assert_eq!(i.host, "0.0.0.0");
        assert_eq!(i.port, 4222);
        assert!(
            i.headers && i.auth_required && !i.tls_required && !i.tls_verify && i.tls_available
        );
        assert_eq!(i.max_payload, 1048576);
        assert_eq!(i.proto, 1);
        assert_eq!(i.client_id, u64::MAX);
        assert_eq!(i.client_ip, "127.0.0.1");
        assert_eq!(i.nonce, "abc-_");
        assert_eq!(i.cluster, "c1");
        assert_eq!(i.connect_urls, ["10.0.0.1:4222", "10.0.0.2:4222"]);
        assert!(i.ldm && i.jetstream);
    }

    #[test]
    fn parse_sparse_and_odd_info() {
        assert_eq!(parse_info(b"{}").unwrap(), ServerInfo::default());
        let i = parse_info(br#"{"version":"2.7.2"}"#).unwrap();
        assert_eq!(i.version, "2.7.2");
        assert_eq!(i.max_payload, 0);
        let i = parse_info(
            br#"{"port":null,"max_payload":1.048576e6,"connect_urls":null,"headers":"yes","server_id":5}"#,
        )
        .unwrap();
        assert_eq!(i.port, 0);
        assert_eq!(i.max_payload, 1048576);
        assert!(i.connect_urls.is_empty());
        assert!(!i.headers);
        assert_eq!(i.server_id, "");
        assert!(matches!(parse_info(b"{"), Err(ProtoError::InvalidInfo(_))));
        assert!(matches!(parse_info(b"[]"), Err(ProtoError::InvalidInfo(_))));
        assert!(matches!(parse_info(b""), Err(ProtoError::InvalidInfo(_))));
        assert!(parse_info(b"{}").is_ok());
    }

    #[test]
    fn connect_json_matches_cnats_layout() {
        let c = ConnectInfo::default();
        assert_eq!(
            String::from_utf8(c.to_json()).unwrap(),
            r#"{"verbose":false,"pedantic":false,"tls_required":false,"name":"","lang":"C","version":"3.13.0","protocol":1,"echo":true,"headers":true,"no_responders":true}"#
        );
        let c = ConnectInfo {
            verbose: true,
            nkey: Some("UABC".into()),
            jwt: Some("eyJ".into()),
            sig: Some("c2ln".into()),
            user: Some("u\"ser".into()),
            pass: Some("p".into()),
            auth_token: Some("t".into()),
            tls_required: true,
            name: Some("app".into()),
            echo: false,
            headers: false,
            no_responders: false,
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(c.to_json()).unwrap(),
            r#"{"verbose":true,"pedantic":false,"nkey":"UABC","jwt":"eyJ","sig":"c2ln","user":"u\"ser","pass":"p","auth_token":"t","tls_required":true,"name":"app","lang":"C","version":"3.13.0","protocol":1,"echo":false,"headers":false,"no_responders":false}"#
        );
        let mut a = BytesMut::new();
        c.encode(&mut a);
        let mut b = BytesMut::new();
        encode_connect(&mut b, &c.to_json());
        assert_eq!(a, b);
        assert!(a.starts_with(b"CONNECT {") && a.ends_with(b"}\r\n"));
    }
}
