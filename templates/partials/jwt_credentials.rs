
/// The token purpose under which this backend keeps its credentials.
pub const CREDENTIAL: Purpose = Purpose::Access;

{% include "partials/credential.rs" %}
/// The signing keys, derived once from `USERS_SECRET`. Cheap to clone (the state is cloned for
/// every extractor and layer of every request).
#[derive(Clone)]
pub struct Backend {
    keys: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Backend {
    /// Keys for `config.secret`.
    pub fn new(config: &Config) -> Self {
        // Only HS256 is accepted, whatever the token's header claims: no `alg: none`, no
        // algorithm confusion.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[JWT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        let keys = Keys {
            encoding: EncodingKey::from_secret(config.secret.as_bytes()),
            decoding: DecodingKey::from_secret(config.secret.as_bytes()),
            validation,
        };
        Self {
            keys: Arc::new(keys),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: Uuid,
    aud: String,
    exp: i64,
    iat: i64,
    /// A random id; its hash is the stored credential.
    jti: String,
}

/// Issues a new credential for `user`, if they are still active and (for a password login, which
/// gives `verified_hash`) still have the password hash the login verified; otherwise 401 as for a
/// wrong password. It is stored with `connection`, the login's transaction: a `post_login` hook
/// that fails takes it back.
pub async fn issue(
    state: &UsersState,
    connection: &mut db::Connection,
    user: &User,
    verified_hash: Option<&str>,
) -> Result<Issued, ApiError> {
    let (jti, token_hash) = tokens::generate();
    let expires_at = db::expires_in(ACCESS_TOKEN_TTL);
    // A login that raced a password change or a deactivation must not keep a token.
    let stored = db::insert_credential(
        &mut *connection,
        user.id,
        CREDENTIAL,
        &token_hash,
        expires_at,
        verified_hash,
    )
    .await?;
    if !stored {
        return Err(ApiError::invalid_credentials());
    }
    let claims = Claims {
        sub: user.id,
        aud: JWT_AUDIENCE.to_owned(),
        exp: expires_at.timestamp(),
        iat: Utc::now().timestamp(),
        jti,
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.backend.keys.encoding,
    )
    .map_err(ApiError::internal)?;
    Ok(Issued {
        token,
        credential: Credential { token_hash },
    })
}
