/// The credential a request was authenticated with; logout revokes exactly this one.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The stored hash that identifies it.
    pub token_hash: String,
}

/// A credential issued at login, to hand to the client.
pub struct Issued {
    token: String,
    /// What identifies it server-side.
    pub credential: Credential,
}
