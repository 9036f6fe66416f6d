/// Security settings while the files are being read: nil where nothing was written.
struct SecurityDraft: Sendable {
    var allowAnonymous: Bool?
    var passwordFile: String?
    var aclFile: String?
    var autoIDPrefix: String?
    var allowZeroLengthClientID: Bool?
    var useUsernameAsClientID: Bool?

    /// The settings, with Mosquitto 2.0's defaults where nothing was written.
    func resolved(anonymousByDefault: Bool) -> BrokerConfiguration.Security {
        BrokerConfiguration.Security(
            allowAnonymous: allowAnonymous ?? anonymousByDefault, passwordFile: passwordFile, aclFile: aclFile,
            autoIDPrefix: autoIDPrefix ?? "auto-", allowZeroLengthClientID: allowZeroLengthClientID ?? true,
            useUsernameAsClientID: useUsernameAsClientID ?? false)
    }
}
