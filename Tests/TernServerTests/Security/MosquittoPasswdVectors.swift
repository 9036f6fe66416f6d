import Testing

/// Lines written by Debian's `mosquitto_passwd` (Mosquitto 2.0.11), with the passwords that made them:
///
/// ```
/// mosquitto_passwd -c -b v alice secret
/// mosquitto_passwd -b v bob 'p@ss w:rd'
/// mosquitto_passwd -b v carol ''
/// mosquitto_passwd -b v 'dävid' 'pässwörd 🔑'
/// mosquitto_passwd -I 1000 -b v erin hunter2
/// mosquitto_passwd -H sha512 -b v frank 'correct horse battery staple'
/// mosquitto_passwd -H sha512 -b v grace ''
/// ```
enum MosquittoPasswdVectors {
    struct Vector: Sendable, CustomTestStringConvertible {
        let username: String
        let password: String
        let field: String

        var line: String { "\(username):\(field)" }
        var testDescription: String { username }
    }

    static let all: [Vector] = [
        Vector(username: "alice", password: "secret",
               field: "$7$101$RVujpgAaLiBkQNoA$zEGeouWvHGR2MSPtBzTEDaFZzac684zIvz5c+XsNJ/l1hX2txHYljuzoamf+j+UrMrGrGNUartzw3zqH9UDAfA=="),
        Vector(username: "bob", password: "p@ss w:rd",
               field: "$7$101$k6cgnzn4IUeA7F2G$qBOdESf1wHh5o95v3Ni19fO/XlGIjTgSFkhbwX++6DThOSTTDuoz229pC3oi87aLiMthgz0oP7B9o7aRInb8jA=="),
        Vector(username: "carol", password: "",
               field: "$7$101$oLuITpLfZfN+/NvE$EiJeznv6O/ZBkANpNJ+c6Ox8TFoTQjKv8GKiTbbSKPeA4P0f6R8oVNxcegXY7TUT5jhg8JgL4p73BpvNYPE1+A=="),
        Vector(username: "dävid", password: "pässwörd 🔑",
               field: "$7$101$6NkaUayYhA7Nddxx$Ofb2fct1zbWWmCHLAa+nsFuQSuYJeyGf6OPaQyaTcgeB/TlCEV0KUGICIXwtN2bACOlLofNlXW3xsTmhfKVejQ=="),
        Vector(username: "erin", password: "hunter2",
               field: "$7$1000$zZ3IILXjOF+3wYNx$z+qOhxx0qdvyVhBUIqdzEwL7hDyrgHbF2BqF/m9/1GaZ99+R4RGceBay0Je/JfbMD+MpoSsBsiUCYva7iwGwmQ=="),
        Vector(username: "frank", password: "correct horse battery staple",
               field: "$6$VHQnOgeHW/UFwykU$6q+u7bBVhflul4SKQR4BXmkpuv+lN5+z9hFf2dPg8yWwK0xhXA7EGLXiLu6ntv5UcDp08eo267gM9tPugjpgxA=="),
        Vector(username: "grace", password: "",
               field: "$6$e27YfpdDibam5IFy$7xr2ALYXAfeYwjPoRiguA5OqRUjCoNxlz4/fNtlspVydaT/Ay4jpWCszwo9VFmWNsCGeNGAKy21x7/M0qx+xsA=="),
    ]

    /// The file `mosquitto_passwd` wrote, byte for byte.
    static var file: String { all.map { $0.line + "\n" }.joined() }
}
