"""The rig's nginx: Debian's nginx run unprivileged as the lb user in the lb namespace.

Everything lives in ``<lb home>/nginx/``: ``nginx.conf`` (written here, no server of
its own), pid, logs, temp dirs, and ``conf.d/*.conf`` -- the site files essay writes.
"""
NGINX = "/usr/sbin/nginx"
MAIN_CONF = """\
# Written by the essay test rig. Sites go in conf.d/*.conf.
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/conf.d/*.conf;
}}
"""


class Nginx:
    """Paths and commands of the lb's nginx; ``start()`` writes the config and runs it."""

    def __init__(self, rig, alias=None):
        self.rig, self.alias = rig, alias or rig.lb

    @property
    def dir(self):
        return f"{self.rig.home_of(self.alias)}/nginx"

    @property
    def conf(self):
        return f"{self.dir}/nginx.conf"

    @property
    def command(self):
        """``nginx`` with this instance's config, prefix and error log. Written with
        ``$HOME`` so that one command (one essay.toml) works on every lb of the rig."""
        d = "$HOME/nginx"
        return f"{NGINX} -c {d}/nginx.conf -p {d}/ -e {d}/error.log"

    @property
    def test(self):
        """Shell command (as the lb user) that checks the configuration."""
        return f"{self.command} -t"

    @property
    def reload(self):
        """Shell command (as the lb user) that makes the running nginx reload."""
        return f"{self.command} -s reload"

    @property
    def pid_file(self):
        """nginx.conf's pid file, home-relative: ``[nginx] pid_file``."""
        return "~/nginx/nginx.pid"

    @property
    def site(self):
        """The demo site file, home-relative (``~/nginx/conf.d/demo.conf``)."""
        return "~/nginx/conf.d/demo.conf"

    @property
    def site_abs(self):
        return f"{self.dir}/conf.d/demo.conf"

    def start(self):
        """Write ``nginx.conf`` and start nginx as the lb user; wait for its pid file."""
        lb = self.alias
        self.rig.sh(lb, f"mkdir -p {self.dir}/conf.d {self.dir}/tmp")
        self.rig.sh(lb, f"cat > {self.conf}", input=MAIN_CONF.format(d=self.dir))
        self.rig.sh(lb, f"{self.command} && for i in $(seq 100); do "
                        f"test -s {self.dir}/nginx.pid && exit 0; sleep 0.05; done; exit 1")
