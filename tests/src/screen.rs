//! A display for GUI tests: `Xvfb` of a chosen size (on a display number
//! it picks itself) with a private session bus, screenshots and pixel
//! reads through ImageMagick's `import`. Both processes are ended when the
//! screen is dropped, also when the test fails.
//!
//! Debian packages: xvfb, dbus-daemon, imagemagick.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::guarded::{require_tool, session_bus, Guarded};
use crate::repo_root;

/// Xvfb of a given size and a private session bus, killed on drop.
pub struct Screen {
    // Dropped in this order: the bus, then X.
    session_bus: Option<Guarded>,
    xvfb: Option<Guarded>,
    display: String,
    session_address: String,
    size: (u32, u32),
    dir: TempDir,
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.session_bus = None;
        self.xvfb = None;
    }
}

impl Screen {
    pub fn start(width: u32, height: u32) -> Self {
        require_tool("Xvfb", "xvfb");
        require_tool("import", "imagemagick");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-screen-")
            .tempdir()
            .expect("temp dir");
        let runtime = dir.path().join("runtime");
        std::fs::create_dir(&runtime).expect("runtime dir");
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
            .expect("runtime dir mode");
        let mut screen = Screen {
            session_bus: None,
            xvfb: None,
            display: String::new(),
            session_address: String::new(),
            size: (width, height),
            dir,
        };
        // -displayfd: Xvfb picks a free display and says which once ready.
        let xvfb = screen.xvfb.insert(Guarded::spawn(
            "Xvfb",
            Command::new("Xvfb")
                .args(["-displayfd", "1", "-screen", "0"])
                .arg(format!("{width}x{height}x24"))
                // -noreset: X would reset (and lose the backdrop) whenever its
                // last client leaves.
                .args(["-nolisten", "tcp", "-noreset"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        ));
        let number = xvfb.first_line();
        assert!(
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
            "Xvfb did not start"
        );
        screen.display = format!(":{number}");
        paint_backdrop(&screen.display);
        let (bus, address) = session_bus(screen.dir.path());
        screen.session_bus = Some(bus);
        screen.session_address = address;
        screen
    }

    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// `DBUS_SESSION_BUS_ADDRESS` of this session.
    pub fn session_address(&self) -> &str {
        &self.session_address
    }

    /// A folder of this session's that lives as long as the screen.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command in this session: its display and session bus, and none of
    /// the machine's own settings.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.session_address)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("runtime"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            // The app's icons from the repository, then the system's.
            .env(
                "XDG_DATA_DIRS",
                format!(
                    "{}:/usr/local/share:/usr/share",
                    repo_root().join("data").display()
                ),
            )
            .env("GSETTINGS_BACKEND", "memory")
            .env("NO_AT_BRIDGE", "1")
            .env("GDK_BACKEND", "x11")
            // Xvfb has no GPU: GTK's GL renderer would run on llvmpipe and
            // spend over a second on its first frame. Desktops have one.
            .env(
                "GSK_RENDERER",
                std::env::var("GSK_RENDERER").unwrap_or_else(|_| "cairo".into()),
            )
            .env("LC_ALL", "C.UTF-8")
            .env("TZ", "UTC")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .stdin(Stdio::null());
        cmd
    }

    /// `import` cutting `area` (x, y, width, height) out of the screen.
    fn import(&self, area: (i32, i32, u32, u32)) -> Command {
        let (x, y, w, h) = area;
        let mut cmd = self.command("import");
        cmd.args(["-window", "root", "-crop"])
            .arg(format!("{w}x{h}+{x}+{y}"))
            .arg("+repage");
        cmd
    }

    /// Saves the screen's part inside `area` (x, y, width, height) as PNG.
    pub fn screenshot(&self, area: (i32, i32, u32, u32), path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        let out = self.import(area).arg(path).output().expect("run import");
        assert!(out.status.success(), "import failed: {out:?}");
    }

    /// Saves the whole screen as PNG.
    pub fn screenshot_all(&self, path: &Path) {
        let (w, h) = self.size;
        self.screenshot((0, 0, w, h), path);
    }

    /// The pixels inside `area`, as RGB triples, row by row.
    pub fn pixels(&self, area: (i32, i32, u32, u32)) -> Vec<[u8; 3]> {
        let out = self
            .import(area)
            // ImageMagick's Q16 build writes 16-bit samples unless told.
            .args(["-depth", "8", "ppm:-"])
            .output()
            .expect("run import");
        assert!(out.status.success(), "import failed: {out:?}");
        parse_ppm(&out.stdout).expect("import wrote a binary PPM")
    }
}

/// GNOME's light grey backdrop on the root window, so that screenshots
/// show a desktop, not a black void, around the windows.
fn paint_backdrop(display: &str) {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _};
    use x11rb::wrapper::ConnectionExt as _;
    const BACKDROP: u32 = 0x00de_ddda;
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    conn.change_window_attributes(
        root,
        &ChangeWindowAttributesAux::new().background_pixel(BACKDROP),
    )
    .expect("set the backdrop");
    conn.clear_area(false, root, 0, 0, 0, 0)
        .expect("paint the backdrop");
    conn.sync().expect("sync with Xvfb");
}

/// Pixels of a binary PPM (P6, maxval 255).
pub fn parse_ppm(bytes: &[u8]) -> Option<Vec<[u8; 3]>> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i] == b'#' {
            while *bytes.get(i)? != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..i]).ok()?.to_owned());
    }
    if fields[0] != "P6" || fields[3] != "255" {
        return None;
    }
    let (w, h): (usize, usize) = (fields[1].parse().ok()?, fields[2].parse().ok()?);
    let data = bytes.get(i + 1..i + 1 + w * h * 3)?;
    Some(data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// How many of `pixels` are within `tolerance` (per channel) of `rgb`.
pub fn count_near(pixels: &[[u8; 3]], rgb: [u8; 3], tolerance: u8) -> usize {
    pixels
        .iter()
        .filter(|p| p.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= tolerance))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_screen_shows_the_backdrop() {
        let screen = Screen::start(64, 48);
        let pixels = screen.pixels((0, 0, 64, 48));
        assert_eq!(pixels.len(), 64 * 48);
        assert_eq!(count_near(&pixels, [0xde, 0xdd, 0xda], 0), pixels.len());
    }

    #[test]
    fn reads_ppm() {
        let mut ppm = b"P6\n# made by hand\n2 1\n255\n".to_vec();
        ppm.extend([1, 2, 3, 250, 251, 252]);
        let px = parse_ppm(&ppm).unwrap();
        assert_eq!(px, vec![[1, 2, 3], [250, 251, 252]]);
        assert_eq!(count_near(&px, [0, 0, 0], 3), 1);
        assert_eq!(count_near(&px, [0, 0, 0], 2), 0);
        assert!(parse_ppm(b"P3\n1 1\n255\n1 2 3").is_none());
        assert!(parse_ppm(b"P6\n2 2\n255\n\x01\x02").is_none(), "short");
    }
}
