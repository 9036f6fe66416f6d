/// What an HTTP user may do: read (`readOnly`) or also change things (`admin`).
public enum AdminRole: String, Sendable, Comparable, Codable {
    case readOnly = "read-only"
    case admin

    public static func < (lhs: AdminRole, rhs: AdminRole) -> Bool {
        lhs == .readOnly && rhs == .admin
    }
}
