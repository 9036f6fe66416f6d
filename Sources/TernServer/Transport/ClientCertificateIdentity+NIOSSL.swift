import NIOSSL
import TernBroker

extension ClientCertificateIdentity {
    /// The identity in a verified client certificate: its first Common Name, and its subject written as OpenSSL's
    /// `X509_NAME_print_ex(..., XN_FLAG_RFC2253)` writes it (what Mosquitto uses), for the attribute types
    /// NIOSSL can name (CN, OU, O, L, ST, C, emailAddress, UID); others are left out of the subject.
    init(certificate: NIOSSLCertificate) {
        let names = certificate.subjectName
        let commonName = names.first { $0.type == .commonName }?.value
        let subject = names.reversed().compactMap { name -> String? in
            guard let label = Self.shortName(of: name.type) else { return nil }
            return "\(label)=\(Self.escaped(name.value))"
        }.joined(separator: ",")
        self.init(commonName: commonName, subject: subject)
    }

    private static func shortName(of type: SSLCertificateNameType) -> String? {
        switch type {
        case .commonName: "CN"
        case .organizationalUnit: "OU"
        case .organization: "O"
        case .city: "L"
        case .state: "ST"
        case .country: "C"
        case .emailAddress: "emailAddress"
        case .userId: "UID"
        default: nil
        }
    }

    /// RFC 2253 section 2.4: `,+"\<>;` escaped, and a leading `#` or space and a trailing space.
    private static func escaped(_ value: String) -> String {
        var result = ""
        let characters = Array(value)
        for (index, character) in characters.enumerated() {
            let special = ",+\"\\<>;".contains(character)
                || (index == 0 && (character == "#" || character == " "))
                || (index == characters.count - 1 && character == " ")
            if special { result.append("\\") }
            result.append(character)
        }
        return result
    }
}
