# What this build of the app is. `es build` rewrites this file in its temporary build
# tree (never in your working tree) with the real version, the git commit and the build
# time, so an installed app can report what it is (see /health). Do not put a real
# version here by hand: the placeholder below is what a source checkout reports.
version = "0.0.0+unreleased"
commit = ""
released = ""
