//! `source.s3`, `source.gcs`, `source.azure`: the objects below a prefix of a bucket, through
//! the `object_store` crate: its credential chains (AWS environment, web identity, container
//! and instance credentials; Google's service account and application default credentials;
//! Azure's keys, SAS, service principals, workload and managed identities), its listing, and
//! its request signers.
//!
//! - The listing (`object_store::ObjectStore::list` of the prefix) gives the keys. With
//!   `versionIds` / `generations` in the spec nothing is listed: those files are the pin.
//! - A HEAD of each selected object (at its pinned version, if any) gives its size, ETag,
//!   version (S3 `x-amz-version-id`, GCS `x-goog-generation`, Azure `x-ms-version-id`) and, on
//!   S3, the `x-amz-checksum-sha256` of an object uploaded with one: then the file is checked
//!   against it; otherwise the engine computes its sha256 while it downloads.
//! - Each file downloads through the engine from the object's URL (with its version), every try
//!   signed just before it is sent ([`Origin::authorized`]) with the credentials of the
//!   provider, refreshed when they expire. Presigned URLs would not do: object_store presigns
//!   a path only (the version would break the signature), and a URL presigned with temporary
//!   credentials dies with them, in the middle of a long download.
//! - The "commit": the first 40 hex digits of the sha256 of one line per file,
//!   `<key>\0<size>\0<etag>\0<version>\n`, in key order ([`listing_commit`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::azure::{AzureAuthorizer, AzureConfigKey, MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::client::{HttpClient, HttpConnector, HttpRequest, HttpRequestBody};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ClientConfigKey, ClientOptions, ObjectStore, RetryConfig};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, ETAG};
use reqwest::{Method, Response};
use url::Url;

use super::{Addresses, Content, Context, Digest, Layout, Origin, Plan, PlannedFile, Request};
use crate::error::{Error, Result, ShownUrl};
use crate::http::{ClientSetup, Http};
use crate::hub::Oid;
use crate::layout;
use crate::patterns::PathFilter;
use crate::spec::object_store::{ObjectSource, StoreKind};
use crate::spec::FetchSpec;

type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The variables each store's credential chain reads, passed to object_store's builder as
/// its configuration keys (lib/sources/object-store.nix names them as `impureEnvVars`, with
/// those read here besides: AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE,
/// AWS_EC2_METADATA_DISABLED, STORAGE_EMULATOR_HOST, AZURE_STORAGE_CONNECTION_STRING).
pub const S3_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_SKIP_SIGNATURE",
];
pub const GCS_VARIABLES: &[&str] = &[
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_SKIP_SIGNATURE",
];
pub const AZURE_VARIABLES: &[&str] = &[
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_MSI_ENDPOINT",
    "AZURE_USE_AZURE_CLI",
    "AZURE_SKIP_SIGNATURE",
];

/// Where the store is and what it needs, known without any network use.
struct Place {
    /// The store's base URL: `https://s3.<region>.amazonaws.com`, an S3-compatible endpoint,
    /// `https://storage.googleapis.com`, `https://<account>.blob.core.windows.net`.
    base: Url,
    /// `<base>/<bucket>`: every object's URL starts with it.
    bucket_url: Url,
    /// S3's signing region.
    region: String,
    /// No credentials: requests are sent unsigned (a public bucket, an emulator).
    anonymous: bool,
}

fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

fn parsed(text: &str, setting: &str) -> Result<Url> {
    crate::spec::fields::endpoint(text).map_err(|problem| Error::ObjectStore {
        what: setting.to_string(),
        problem,
        remedy: "give an http:// or https:// URL".into(),
    })
}

fn place(source: &ObjectSource, env: &dyn Fn(&str) -> Option<String>) -> Result<Place> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let (base, region, anonymous) = match source.store {
        StoreKind::S3 => {
            let profile = AwsProfile::read(env);
            let region = source
                .region
                .clone()
                .or_else(|| set("AWS_REGION"))
                .or_else(|| set("AWS_DEFAULT_REGION"))
                .or(profile.region)
                .unwrap_or_else(|| "us-east-1".into());
            let base = match (
                &source.endpoint,
                set("AWS_ENDPOINT_URL_S3"),
                set("AWS_ENDPOINT_URL"),
            ) {
                (Some(url), _, _) => url.clone(),
                (None, Some(text), _) => parsed(&text, "AWS_ENDPOINT_URL_S3")?,
                (None, None, Some(text)) => parsed(&text, "AWS_ENDPOINT_URL")?,
                (None, None, None) => {
                    parsed(&format!("https://s3.{region}.amazonaws.com"), "region")?
                }
            };
            (base, region, truthy(env("AWS_SKIP_SIGNATURE")))
        }
        StoreKind::Gcs => {
            let emulator = set("STORAGE_EMULATOR_HOST");
            let base = match (&source.endpoint, &emulator) {
                (Some(url), _) => url.clone(),
                (None, Some(text)) => parsed(text, "STORAGE_EMULATOR_HOST")?,
                (None, None) => parsed("https://storage.googleapis.com", "endpoint")?,
            };
            let anonymous = emulator.is_some() || truthy(env("GOOGLE_SKIP_SIGNATURE"));
            (base, String::new(), anonymous)
        }
        StoreKind::Azure => {
            let account = source.account.as_deref().unwrap_or_default();
            let base = match &source.endpoint {
                Some(url) => url.clone(),
                None => parsed(
                    &format!("https://{account}.blob.core.windows.net"),
                    "account",
                )?,
            };
            (base, String::new(), truthy(env("AZURE_SKIP_SIGNATURE")))
        }
    };
    let bucket_url = join(&base, &[&source.bucket]);
    Ok(Place {
        base,
        bucket_url,
        region,
        anonymous,
    })
}

/// What a URL path segment keeps as it is: the unreserved characters of RFC 3986, which is
/// also how SigV4 wants an S3 key in its canonical request.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `base` with `segments` (raw, not yet encoded) appended to its path.
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut text = base.as_str().trim_end_matches('/').to_string();
    for segment in segments {
        text.push('/');
        text.extend(utf8_percent_encode(segment, SEGMENT));
    }
    Url::parse(&text).expect("a URL with encoded segments appended")
}

pub fn addresses(source: &ObjectSource, env: &dyn Fn(&str) -> Option<String>) -> Result<Addresses> {
    let place = place(source, env)?;
    Ok(Addresses {
        endpoint: place.base.as_str().trim_end_matches('/').to_string(),
        urls: vec![place.bucket_url.to_string()],
    })
}

pub async fn plan(spec: &FetchSpec, source: &ObjectSource, context: Context<'_>) -> Result<Plan> {
    let env = context.env;
    let place = place(source, env)?;
    let connector = Connector {
        roots: context.extra_roots.clone(),
        timeout: spec.network.timeout(),
    };
    let store = Store::build(source, &place, spec, connector, env)?;
    let setup = ClientSetup {
        token: None,
        extra_roots: context.extra_roots,
        notify: context.notify,
    };
    let origin = Arc::new(Bucket {
        http: Http::new(&spec.network, &place.bucket_url, setup)?,
        source: source.clone(),
        place,
        store,
    });
    let wanted: Vec<(String, Option<String>)> = match &source.versions {
        Some(versions) => {
            let filter = PathFilter::new(&source.files, &source.exclude);
            versions
                .iter()
                .filter(|(path, _)| filter.matches(path))
                .map(|(path, version)| (path.clone(), Some(version.clone())))
                .collect()
        }
        None => origin.listed().await?,
    };
    if wanted.is_empty() {
        return Err(origin.nothing_selected());
    }
    layout::check_listing(wanted.iter().map(|(path, _)| path.as_str()))?;
    let heads = futures_util::stream::iter(wanted)
        .map(|(path, version)| {
            let origin = origin.clone();
            async move { origin.head(path, version).await }
        })
        .buffered(spec.network.concurrency.max(1));
    let mut objects: Vec<Object> = heads.try_collect().await?;
    objects.sort_by(|a, b| a.path.cmp(&b.path));
    let commit = listing_commit(&objects);
    let mut pin = serde_json::Map::new();
    if source.store == StoreKind::S3 && source.region.is_none() {
        // Where the bucket was found, so that a build without AWS_REGION finds it too.
        pin.insert("region".into(), origin.place.region.clone().into());
    }
    if objects.iter().all(|o| o.version.is_some()) {
        let versions: serde_json::Map<String, serde_json::Value> = objects
            .iter()
            .map(|o| (o.path.clone(), o.version.clone().unwrap_or_default().into()))
            .collect();
        pin.insert(source.store.versions_key().into(), versions.into());
    }
    let files = objects
        .into_iter()
        .map(|object| PlannedFile {
            content: Content::Download(Request::get(
                origin.object_url(&object.path, object.version.as_deref()),
            )),
            path: object.path,
            size: object.size,
            digest: match object.sha256 {
                Some(hex) => Digest::Known(Oid::Sha256(hex)),
                None => Digest::Sha256Computed,
            },
        })
        .collect();
    Ok(Plan {
        endpoint: origin.place.base.as_str().trim_end_matches('/').to_string(),
        revision: "main".into(),
        commit: Some(commit),
        origin,
        files,
        layout: Layout::HubCache { listing: None },
        pin,
    })
}

/// One object, as its HEAD describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    /// Its path below the prefix.
    path: String,
    key: String,
    size: u64,
    etag: String,
    version: Option<String>,
    /// S3's checksum of the whole object, in hex, when it was uploaded with one.
    sha256: Option<String>,
}

/// The fetched version's id: the first 40 hex digits of the sha256 of one line per object,
/// `<key>\0<size>\0<etag>\0<version>\n` (an empty version where the store keeps none), in key
/// order. The same objects at the same versions give the same commit; an overwritten object
/// gives another (a new ETag, a new version).
fn listing_commit(objects: &[Object]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut sorted: Vec<&Object> = objects.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut listing = Sha256::new();
    for object in sorted {
        let version = object.version.as_deref().unwrap_or("");
        listing.update(format!(
            "{}\0{}\0{}\0{version}\n",
            object.key, object.size, object.etag
        ));
    }
    hex::encode(listing.finalize())[..40].to_string()
}

/// The store, built by object_store from the spec and the credential chain's variables.
enum Store {
    S3(AmazonS3),
    Gcs(GoogleCloudStorage),
    Azure(MicrosoftAzure),
}

impl Store {
    fn build(
        source: &ObjectSource,
        place: &Place,
        spec: &FetchSpec,
        connector: Connector,
        env: Env<'_>,
    ) -> Result<Self> {
        let options = ClientOptions::new().with_allow_http(place.base.scheme() == "http");
        let retry = RetryConfig {
            max_retries: spec.network.retries as usize,
            retry_timeout: Duration::from_secs(120),
            ..RetryConfig::default()
        };
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        let built = match source.store {
            StoreKind::S3 => {
                let mut builder = AmazonS3Builder::new();
                for name in S3_VARIABLES {
                    if let (Some(value), Ok(key)) = (
                        set(name),
                        name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>(),
                    ) {
                        builder = builder.with_config(key, value);
                    }
                }
                if set("AWS_ACCESS_KEY_ID").is_none() && set("AWS_SECRET_ACCESS_KEY").is_none() {
                    let profile = AwsProfile::read(env);
                    if let Some((key_id, secret, token)) = profile.keys {
                        builder = builder
                            .with_access_key_id(key_id)
                            .with_secret_access_key(secret);
                        if let Some(token) = token {
                            builder = builder.with_token(token);
                        }
                    } else if let Some(problem) = profile.problem {
                        return Err(Error::ObjectStore {
                            what: source.subject(),
                            problem,
                            remedy: format!("set {}", StoreKind::S3.credentials()),
                        });
                    }
                }
                if truthy(env("AWS_EC2_METADATA_DISABLED"))
                    && !has_aws_credentials(env)
                    && !place.anonymous
                {
                    return Err(no_credentials(source));
                }
                builder
                    .with_bucket_name(&source.bucket)
                    .with_region(&place.region)
                    .with_endpoint(place.base.as_str().trim_end_matches('/'))
                    .with_virtual_hosted_style_request(false)
                    .with_skip_signature(place.anonymous)
                    .with_client_options(options)
                    .with_retry(retry)
                    .with_http_connector(connector)
                    .build()
                    .map(Store::S3)
            }
            StoreKind::Gcs => {
                let mut builder = GoogleCloudStorageBuilder::new();
                for name in GCS_VARIABLES {
                    if let (Some(value), Ok(key)) = (
                        set(name),
                        name.to_ascii_lowercase().parse::<GoogleConfigKey>(),
                    ) {
                        builder = builder.with_config(key, value);
                    }
                }
                if place.anonymous {
                    // An emulator, or a public bucket: no credential is looked for.
                    builder = builder.with_credentials(Arc::new(
                        object_store::StaticCredentialProvider::new(
                            object_store::gcp::GcpCredential {
                                bearer: String::new(),
                            },
                        ),
                    ));
                }
                builder
                    .with_bucket_name(&source.bucket)
                    .with_config(
                        GoogleConfigKey::BaseUrl,
                        place.base.as_str().trim_end_matches('/'),
                    )
                    .with_skip_signature(place.anonymous)
                    .with_client_options(options)
                    .with_retry(retry)
                    .with_http_connector(connector)
                    .build()
                    .map(Store::Gcs)
            }
            StoreKind::Azure => {
                let mut builder = MicrosoftAzureBuilder::new();
                for name in AZURE_VARIABLES {
                    if let (Some(value), Ok(key)) = (
                        set(name),
                        name.to_ascii_lowercase().parse::<AzureConfigKey>(),
                    ) {
                        builder = builder.with_config(key, value);
                    }
                }
                let account = source.account.clone().unwrap_or_default();
                if [
                    "AZURE_STORAGE_ACCOUNT_KEY",
                    "AZURE_STORAGE_SAS_TOKEN",
                    "AZURE_STORAGE_SAS_KEY",
                ]
                .iter()
                .all(|name| set(name).is_none())
                {
                    if let Some(string) = set("AZURE_STORAGE_CONNECTION_STRING") {
                        builder = connection_string(builder, &string, &account);
                    }
                }
                builder
                    .with_account(&account)
                    .with_container_name(&source.bucket)
                    .with_endpoint(place.base.as_str().trim_end_matches('/').to_string())
                    .with_skip_signature(place.anonymous)
                    .with_client_options(options)
                    .with_retry(retry)
                    .with_http_connector(connector)
                    .build()
                    .map(Store::Azure)
            }
        };
        built.map_err(|error| Error::ObjectStore {
            what: source.subject(),
            problem: format!(
                "the store's client cannot be set up: {}",
                shown_error(&error)
            ),
            remedy: format!(
                "check the credentials' variables: {}",
                source.store.credentials()
            ),
        })
    }

    fn store(&self) -> &dyn ObjectStore {
        match self {
            Store::S3(store) => store,
            Store::Gcs(store) => store,
            Store::Azure(store) => store,
        }
    }
}

fn has_aws_credentials(env: Env<'_>) -> bool {
    [
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|name| env(name).is_some_and(|v| !v.is_empty()))
        || AwsProfile::read(env).keys.is_some()
}

fn no_credentials(source: &ObjectSource) -> Error {
    Error::ObjectStore {
        what: source.subject(),
        problem: "no AWS credentials were found (AWS_EC2_METADATA_DISABLED leaves out the \
                  instance's role)"
            .into(),
        remedy: format!(
            "set {}, or AWS_SKIP_SIGNATURE=true for a public bucket",
            StoreKind::S3.credentials()
        ),
    }
}

/// The key or SAS of `AZURE_STORAGE_CONNECTION_STRING`, when it is the account's.
fn connection_string(
    builder: MicrosoftAzureBuilder,
    text: &str,
    account: &str,
) -> MicrosoftAzureBuilder {
    let fields: BTreeMap<&str, &str> = text
        .split(';')
        .filter_map(|field| field.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    if fields
        .get("AccountName")
        .is_some_and(|name| *name != account)
    {
        return builder;
    }
    match (
        fields.get("AccountKey"),
        fields.get("SharedAccessSignature"),
    ) {
        (Some(key), _) => builder.with_access_key(*key),
        (None, Some(sas)) => builder.with_config(AzureConfigKey::SasKey, *sas),
        (None, None) => builder,
    }
}

/// The static keys and region of an AWS profile (`AWS_PROFILE`, else `default`) in
/// `AWS_SHARED_CREDENTIALS_FILE` (else ~/.aws/credentials) and `AWS_CONFIG_FILE` (else
/// ~/.aws/config), as the AWS CLI reads them. object_store has no profile reader; profiles
/// that get their keys otherwise (SSO, credential_process) are not read.
#[derive(Default)]
struct AwsProfile {
    keys: Option<(String, String, Option<String>)>,
    region: Option<String>,
    /// A profile named by AWS_PROFILE that has no keys.
    problem: Option<String>,
}

impl AwsProfile {
    fn read(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = set("HOME").map(PathBuf::from);
        let file = |variable: &str, default: &str| {
            set(variable)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|home| home.join(".aws").join(default)))
        };
        let named = set("AWS_PROFILE");
        let profile = named.clone().unwrap_or_else(|| "default".into());
        let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| ini_section(&text, &profile))
            .unwrap_or_default();
        let config_section = match profile.as_str() {
            "default" => "default".to_string(),
            other => format!("profile {other}"),
        };
        let config = file("AWS_CONFIG_FILE", "config")
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| ini_section(&text, &config_section))
            .unwrap_or_default();
        let get = |key: &str| credentials.get(key).or_else(|| config.get(key)).cloned();
        let keys = match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => Some((id, secret, get("aws_session_token"))),
            _ => None,
        };
        let problem = match (&keys, &named) {
            (None, Some(name)) => Some(format!(
                "AWS_PROFILE names the profile '{name}', which has no aws_access_key_id and \
                 aws_secret_access_key in ~/.aws/credentials (or AWS_SHARED_CREDENTIALS_FILE): \
                 only profiles with static keys are read"
            )),
            _ => None,
        };
        AwsProfile {
            keys,
            region: config.get("region").cloned(),
            problem,
        }
    }
}

/// The `key = value` lines of the `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut inside = false;
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if let (true, Some((key, value))) = (inside, line.split_once('=')) {
            values.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    values
}

/// object_store's HTTP clients, with the TLS roots and timeouts of the rest of the fetch.
#[derive(Debug)]
struct Connector {
    roots: Vec<reqwest::Certificate>,
    timeout: Duration,
}

impl HttpConnector for Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let duration = |key| {
            options
                .get_config_value(&key)
                .and_then(|text| humantime::parse_duration(&text).ok())
        };
        let connect = duration(ClientConfigKey::ConnectTimeout)
            .map_or(self.timeout, |given| given.min(self.timeout));
        let allow_http = options
            .get_config_value(&ClientConfigKey::AllowHttp)
            .as_deref()
            == Some("true");
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(self.timeout)
            .tls_built_in_native_certs(false)
            .https_only(!allow_http)
            .user_agent(concat!("nix-fetch-model/", env!("CARGO_PKG_VERSION")));
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .build()
            .map_err(|error| object_store::Error::Generic {
                store: "HTTP",
                source: Box::new(error),
            })?;
        Ok(HttpClient::new(client))
    }
}

/// The objects of one bucket, and the client that reads them.
struct Bucket {
    http: Http,
    source: ObjectSource,
    place: Place,
    store: Store,
}

impl Bucket {
    /// The selected objects below the prefix: (path below it, no version).
    async fn listed(&self) -> Result<Vec<(String, Option<String>)>> {
        let prefix = match self.source.prefix.as_str() {
            "" => None,
            prefix => Some(object_store::path::Path::from_iter(prefix.split('/'))),
        };
        let listing: Vec<object_store::ObjectMeta> = self
            .store
            .store()
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|error| self.listing_error(error))?;
        let filter = PathFilter::new(&self.source.files, &self.source.exclude);
        let below = match self.source.prefix.as_str() {
            "" => String::new(),
            prefix => format!("{prefix}/"),
        };
        let mut wanted = Vec::new();
        for meta in listing {
            let key = meta.location.as_ref();
            let Some(path) = key.strip_prefix(below.as_str()) else {
                continue;
            };
            if filter.matches(path) {
                wanted.push((path.to_string(), None));
            }
        }
        Ok(wanted)
    }

    fn nothing_selected(&self) -> Error {
        let source = &self.source;
        let (problem, remedy) = match (
            &source.versions,
            source.files.is_empty() && source.exclude.is_empty(),
        ) {
            (None, true) => (
                "holds no object".to_string(),
                "check the bucket, the prefix and the endpoint".to_string(),
            ),
            _ => (
                format!(
                    "has no object that files = {:?} / exclude = {:?} select",
                    source.files, source.exclude
                ),
                format!(
                    "check source.{}.files / exclude against the objects' paths below the prefix",
                    source.store.kind()
                ),
            ),
        };
        Error::ObjectStore {
            what: source.subject(),
            problem,
            remedy,
        }
    }

    /// The URL of the object at `path` below the prefix, at `version`.
    fn object_url(&self, path: &str, version: Option<&str>) -> Url {
        let key = self.source.key(path);
        let segments: Vec<&str> = key.split('/').collect();
        let mut url = join(&self.place.bucket_url, &segments);
        if let Some(version) = version {
            let name = match self.source.store {
                StoreKind::S3 => "versionId",
                StoreKind::Gcs => "generation",
                StoreKind::Azure => "versionid",
            };
            url.query_pairs_mut().append_pair(name, version);
        }
        url
    }

    /// The object at `path` (at `version`), described by a HEAD.
    async fn head(&self, path: String, version: Option<String>) -> Result<Object> {
        let url = self.object_url(&path, version.as_deref());
        let mut headers = HeaderMap::new();
        if self.source.store == StoreKind::S3 {
            headers.insert("x-amz-checksum-mode", HeaderValue::from_static("ENABLED"));
        }
        let mut backoff = self.http.backoff();
        let sent: Result<Response> = async {
            loop {
                let (signed, signed_headers) =
                    self.sign(Method::HEAD, &url, headers.clone()).await?;
                match self.http.send_once(&signed, true, signed_headers).await? {
                    Ok(response) => return Ok(response),
                    Err(failure) => backoff.wait_or_fail(&url, &path, failure).await?,
                }
            }
        }
        .await;
        let response = sent.map_err(|error| match error {
            Error::Unreachable { url, cause, .. } => Error::ObjectStore {
                what: format!("cannot reach {url}"),
                problem: cause,
                remedy: format!(
                    "check the network, a proxy (HTTPS_PROXY), and source.{}.endpoint",
                    self.source.store.kind()
                ),
            },
            other => other,
        })?;
        let response = self.checked_as(response, &path, version.as_deref())?;
        let text = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let size = text(CONTENT_LENGTH.as_str())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Protocol {
                url: ShownUrl::from(&url),
                problem: "the HEAD of the object gives no size (Content-Length)".into(),
            })?;
        let version_header = match self.source.store {
            StoreKind::S3 => "x-amz-version-id",
            StoreKind::Gcs => "x-goog-generation",
            StoreKind::Azure => "x-ms-version-id",
        };
        let sha256 = match self.source.store {
            StoreKind::S3 => s3_sha256(
                text("x-amz-checksum-sha256").as_deref(),
                text("x-amz-checksum-type").as_deref(),
            ),
            _ => None,
        };
        Ok(Object {
            key: self.source.key(&path),
            path,
            size,
            etag: text(ETAG.as_str()).unwrap_or_default(),
            // The pinned version, or the one the store gives (none where it keeps none).
            version: version.or_else(|| text(version_header)),
            sha256,
        })
    }

    /// The listing's error in the user's terms.
    fn listing_error(&self, error: object_store::Error) -> Error {
        let text = shown_error(&error);
        let status = match &error {
            object_store::Error::NotFound { .. } => Some(404),
            object_store::Error::PermissionDenied { .. } => Some(403),
            object_store::Error::Unauthenticated { .. } => Some(401),
            // A refusal the store's client does not tell apart (S3's listing): its status.
            _ => status_in(&text).filter(|status| matches!(status, 301 | 401 | 403 | 404)),
        };
        match status {
            Some(status) => Error::Refused {
                url: ShownUrl::from(&self.place.bucket_url),
                status,
                detail: error_code(&chain(&error))
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default(),
                remedy: self.remedy(status, None),
            },
            None => Error::ObjectStore {
                what: format!("listing {}", self.source.subject()),
                problem: text,
                remedy: format!(
                    "check the endpoint, the network, and the credentials: {}",
                    self.source.store.credentials()
                ),
            },
        }
    }

    /// What to do about a refusal of the store.
    fn remedy(&self, status: u16, version: Option<&str>) -> String {
        let store = self.source.store;
        match status {
            401 | 403 if self.place.anonymous => format!(
                "the store wants credentials, and none are sent: set {} (and unset the variable \
                 that asks for anonymous access)",
                store.credentials()
            ),
            401 | 403 => format!(
                "the credentials were refused, or may not read {}: check {}",
                self.source.subject(),
                store.credentials()
            ),
            404 | 410 => {
                match version {
                    Some(version) => format!(
                    "the object's version {version} (source.{}.{}) is gone, or is not a version of \
                     this object: check it, or leave the versions out to fetch what the prefix \
                     holds now",
                    store.kind(),
                    store.versions_key()
                ),
                    None => {
                        format!(
                    "check the bucket{}, the prefix and the endpoint; an object deleted since \
                     the listing is gone",
                    if store == StoreKind::Azure { " (the container and account)" } else { "" }
                )
                    }
                }
            }
            301 | 307 if store == StoreKind::S3 => "the bucket is in another region: set \
                 source.s3.region to the region S3 names in x-amz-bucket-region"
                .to_string(),
            _ => "the store refused the request".to_string(),
        }
    }

    fn checked_as(
        &self,
        response: Response,
        _path: &str,
        version: Option<&str>,
    ) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut detail = crate::http::error_detail(response.headers());
        if let Some(region) = response
            .headers()
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
        {
            detail = format!(" (the bucket is in {region})");
        }
        Err(Error::Refused {
            url: ShownUrl::from(response.url()),
            status: status.as_u16(),
            detail,
            remedy: self.remedy(status.as_u16(), version),
        })
    }

    /// A `method` request of `url` with `headers`, signed for the store with the credential provider's current
    /// credentials.
    async fn sign(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<(Url, HeaderMap)> {
        if self.place.anonymous {
            let mut headers = headers;
            if self.source.store == StoreKind::Azure {
                headers.insert(
                    HeaderName::from_static("x-ms-version"),
                    HeaderValue::from_static("2023-11-03"),
                );
            }
            return Ok((url.clone(), headers));
        }
        let mut request = HttpRequest::new(HttpRequestBody::empty());
        *request.method_mut() = method;
        *request.uri_mut() = url
            .as_str()
            .parse()
            .map_err(|e| Error::Internal(format!("an object's URL is no URI: {e}")))?;
        *request.headers_mut() = headers;
        let credential_error = |error: object_store::Error| Error::ObjectStore {
            what: self.source.subject(),
            problem: format!("no credentials: {}", shown_error(&error)),
            remedy: format!(
                "set {}{}",
                self.source.store.credentials(),
                match self.source.store {
                    StoreKind::S3 => ", or AWS_SKIP_SIGNATURE=true for a public bucket",
                    StoreKind::Gcs => ", or GOOGLE_SKIP_SIGNATURE=true for a public bucket",
                    StoreKind::Azure => ", or AZURE_SKIP_SIGNATURE=true for a public container",
                }
            ),
        };
        match &self.store {
            Store::S3(store) => {
                let credential = store
                    .credentials()
                    .get_credential()
                    .await
                    .map_err(credential_error)?;
                AwsAuthorizer::new(&credential, "s3", &self.place.region)
                    .authorize(&mut request, None);
            }
            Store::Gcs(store) => {
                let credential = store
                    .credentials()
                    .get_credential()
                    .await
                    .map_err(credential_error)?;
                if !credential.bearer.is_empty() {
                    let value = HeaderValue::from_str(&format!("Bearer {}", credential.bearer))
                        .map_err(|_| Error::ObjectStore {
                            what: self.source.subject(),
                            problem: "the access token cannot be sent in a header".into(),
                            remedy: "check GOOGLE_APPLICATION_CREDENTIALS".into(),
                        })?;
                    request
                        .headers_mut()
                        .insert(reqwest::header::AUTHORIZATION, value);
                }
            }
            Store::Azure(store) => {
                let credential = store
                    .credentials()
                    .get_credential()
                    .await
                    .map_err(credential_error)?;
                let account = self.source.account.as_deref().unwrap_or_default();
                AzureAuthorizer::new(&credential, account).authorize(&mut request);
            }
        }
        let signed = Url::parse(&request.uri().to_string())
            .map_err(|e| Error::Internal(format!("a signed URL is no URL: {e}")))?;
        let mut headers = std::mem::take(request.headers_mut());
        for value in headers.values_mut() {
            value.set_sensitive(true);
        }
        // The Host header goes with the URL: reqwest writes it.
        headers.remove(reqwest::header::HOST);
        Ok((signed, headers))
    }
}

impl Origin for Bucket {
    fn http(&self) -> &Http {
        &self.http
    }

    fn checked(&self, response: Response, path: &str) -> Result<Response> {
        let version = response
            .url()
            .query_pairs()
            .find(|(name, _)| ["versionId", "generation", "versionid"].contains(&name.as_ref()))
            .map(|(_, value)| value.into_owned());
        self.checked_as(response, path, version.as_deref())
    }

    fn authorized<'a>(
        &'a self,
        url: &'a Url,
        headers: HeaderMap,
    ) -> BoxFuture<'a, Result<(Url, HeaderMap)>> {
        Box::pin(self.sign(Method::GET, url, headers))
    }
}

/// The sha256 in hex of `x-amz-checksum-sha256`, when it is the whole object's: not the
/// checksum of checksums of a multipart upload (`COMPOSITE`, or a value ending in `-<parts>`).
fn s3_sha256(checksum: Option<&str>, kind: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    if kind.is_some_and(|kind| !kind.eq_ignore_ascii_case("FULL_OBJECT")) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(checksum?.trim())
        .ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

/// An error of object_store as shown: without the queries of the URLs in it (where a SAS
/// would be).
fn shown_error(error: &dyn std::error::Error) -> String {
    let text = chain(error);
    let words: Vec<String> = text
        .split(' ')
        .map(
            |word| match word.starts_with("http://") || word.starts_with("https://") {
                true => ShownUrl::new(word).to_string(),
                false => word.to_string(),
            },
        )
        .collect();
    let text = words.join(" ");
    // An XML error body: its code and message are what matters.
    match (error_code(&text), xml_field(&text, "Message")) {
        (Some(code), Some(message)) => {
            let start = text.find('<').unwrap_or(text.len());
            format!("{}{code}: {message}", &text[..start])
        }
        _ => text,
    }
}

/// `error` and its causes, each once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(deeper) = cause {
        let more = deeper.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = deeper.source();
    }
    text
}

/// The HTTP status object_store's error text names (`non-2xx status code: 403 Forbidden`).
fn status_in(text: &str) -> Option<u16> {
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

/// The `<Code>` of an S3 or Azure XML error in `text`.
fn error_code(text: &str) -> Option<String> {
    xml_field(text, "Code")
}

fn xml_field(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + text[start..].find(&format!("</{name}>"))?;
    Some(text[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::object_store::check;

    fn source(store: StoreKind, json: &str) -> ObjectSource {
        check(store, &serde_json::from_str(json).unwrap()).unwrap()
    }

    fn env_of(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Sync {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn places_of_each_store() {
        let s3 = source(StoreKind::S3, r#"{"bucket":"models","prefix":"llm"}"#);
        let place = place(&s3, &env_of(&[("AWS_REGION", "eu-west-1")])).unwrap();
        assert_eq!(
            place.bucket_url.as_str(),
            "https://s3.eu-west-1.amazonaws.com/models"
        );
        let place = super::place(
            &s3,
            &env_of(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")]),
        )
        .unwrap();
        assert_eq!(
            (place.bucket_url.as_str(), place.region.as_str()),
            ("http://127.0.0.1:9000/models", "us-east-1")
        );
        let with_endpoint = source(
            StoreKind::S3,
            r#"{"bucket":"models","endpoint":"https://minio.example","region":"auto"}"#,
        );
        let place =
            super::place(&with_endpoint, &env_of(&[("AWS_ENDPOINT_URL", "http://x")])).unwrap();
        assert_eq!(
            (place.bucket_url.as_str(), place.region.as_str()),
            ("https://minio.example/models", "auto")
        );
        let gcs = source(StoreKind::Gcs, r#"{"bucket":"models"}"#);
        let place = super::place(
            &gcs,
            &env_of(&[("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")]),
        )
        .unwrap();
        assert!(place.anonymous);
        assert_eq!(place.bucket_url.as_str(), "http://127.0.0.1:4443/models");
        let azure = source(
            StoreKind::Azure,
            r#"{"account":"acct","container":"models"}"#,
        );
        let place = super::place(&azure, &env_of(&[])).unwrap();
        assert_eq!(
            place.bucket_url.as_str(),
            "https://acct.blob.core.windows.net/models"
        );
        assert!(!place.anonymous);
    }

    #[test]
    fn keys_are_encoded_for_sigv4() {
        let base = Url::parse("http://h:1/bucket").unwrap();
        let url = join(&base, &["llm", "a b+c(1)é.bin"]);
        assert_eq!(
            url.as_str(),
            "http://h:1/bucket/llm/a%20b%2Bc%281%29%C3%A9.bin"
        );
    }

    #[test]
    fn the_commit_is_the_listing_hashed() {
        let object = |key: &str, etag: &str, version: Option<&str>| Object {
            path: key.to_string(),
            key: key.to_string(),
            size: 3,
            etag: etag.to_string(),
            version: version.map(String::from),
            sha256: None,
        };
        let a = listing_commit(&[
            object("a", "\"e1\"", Some("v1")),
            object("b", "\"e2\"", None),
        ]);
        let b = listing_commit(&[
            object("b", "\"e2\"", None),
            object("a", "\"e1\"", Some("v1")),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 40);
        let moved = listing_commit(&[
            object("a", "\"e1\"", Some("v2")),
            object("b", "\"e2\"", None),
        ]);
        assert_ne!(a, moved);
        // sha256("a\03\0\"e1\"\0v1\nb\03\0\"e2\"\0\n")
        use sha2::{Digest as _, Sha256};
        let expected = hex::encode(Sha256::digest(
            b"a\x003\x00\"e1\"\x00v1\nb\x003\x00\"e2\"\x00\n",
        ));
        assert_eq!(a, expected[..40]);
    }

    #[test]
    fn only_a_whole_object_checksum_is_a_digest() {
        let hello = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
        assert_eq!(
            s3_sha256(Some(hello), None).as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(s3_sha256(Some(hello), Some("COMPOSITE")), None);
        assert_eq!(
            s3_sha256(Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=-3"), None),
            None
        );
        assert_eq!(s3_sha256(None, None), None);
    }

    #[test]
    fn a_profile_gives_keys_and_region() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[dev]\n\
             aws_access_key_id=C\naws_secret_access_key=D\naws_session_token=T\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile dev]\nregion = eu-north-1\n").unwrap();
        let (c, f) = (
            credentials.display().to_string(),
            config.display().to_string(),
        );
        let env = move |name: &str| match name {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(c.clone()),
            "AWS_CONFIG_FILE" => Some(f.clone()),
            "AWS_PROFILE" => Some("dev".into()),
            _ => None,
        };
        let profile = AwsProfile::read(&env);
        assert_eq!(
            profile.keys,
            Some(("C".into(), "D".into(), Some("T".into())))
        );
        assert_eq!(profile.region.as_deref(), Some("eu-north-1"));
        let missing = move |name: &str| match name {
            "AWS_PROFILE" => Some("nope".into()),
            "HOME" => Some("/nonexistent".into()),
            _ => None,
        };
        assert!(AwsProfile::read(&missing)
            .problem
            .unwrap()
            .contains("'nope'"));
    }

    #[test]
    fn errors_show_no_query_and_the_xml_code() {
        let error = std::io::Error::other(
            "Error performing GET http://h/b?list-type=2&sig=SECRET in 3ms: 403 Forbidden: \
             <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The \
             signature does not match</Message></Error>",
        );
        let shown = shown_error(&error);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.ends_with("SignatureDoesNotMatch: The signature does not match"),
            "{shown}"
        );
        let listing = "Generic S3 error: Error performing list request: Error performing GET \
                       http://h/b in 4ms - Server returned non-2xx status code: 403 Forbidden: x";
        assert_eq!(status_in(listing), Some(403));
        assert_eq!(status_in("no status"), None);
    }
}
