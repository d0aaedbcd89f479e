//! `kind = "default-policy"`: the action for packets no policy matches (as
//! `ip xfrm policy getdefault`), read over XFRM netlink in the check's namespace.

use super::{Context, Outcome};
use crate::model::{DefaultPolicyCheck, Dir};

pub fn run(check: &DefaultPolicyCheck, ctx: &Context) -> Outcome {
    let info = match xfrmdiag_inventory::xfrm_info(&ctx.netns) {
        Ok(info) => info,
        Err(e) => return Outcome::fail(format!("cannot read the default policies: {e}"), None),
    };
    let defaults = &info.default_policy;
    let actual = match check.dir {
        Dir::In => defaults.input,
        Dir::Out => defaults.output,
        Dir::Fwd => defaults.forward,
    };
    let observed = Some(format!(
        "in {}, out {}, fwd {}",
        defaults.input.as_str(),
        defaults.output.as_str(),
        defaults.forward.as_str()
    ));
    let dir = check.dir.as_str();
    let wanted = check.action.as_str();
    if actual.as_str() == wanted {
        Outcome::pass(format!("default policy {dir} is {wanted}"), observed)
    } else {
        Outcome::fail(
            format!(
                "default policy {dir} is {}, expected {wanted} (change with `ip xfrm policy setdefault {dir} {wanted}`)",
                actual.as_str()
            ),
            observed,
        )
    }
}
