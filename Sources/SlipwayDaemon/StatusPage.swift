/// The status page: one HTML file and its script, served by `StatusServer`. The script polls
/// `/api/environments` every second and puts text into the page with `textContent` only:
/// versions, steps and records come from a repository people push to, and are never markup.
enum StatusPage {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Slipway</title>
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1d1d1f; }
          h1 { font-size: 20px; }
          table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
          th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #ddd; vertical-align: top; }
          .instance { display: inline-block; margin: 1px 4px 1px 0; padding: 0 6px; border-radius: 4px; background: #e8f5e9; }
          .instance.warm { background: #fff8e1; } .instance.stopped { background: #ffebee; }
          .bar { width: 160px; height: 8px; background: #eee; border-radius: 4px; } .bar > div { height: 8px; background: #2e7d32; border-radius: 4px; }
          .approval { background: #fff3e0; padding: 6px 10px; border-radius: 4px; }
          .failed { color: #b71c1c; } pre { background: #f6f8fa; padding: 1em; overflow: auto; max-height: 30em; }
          #updated { color: #777; }
        </style>
        </head>
        <body>
        <h1>Slipway <span id="updated"></span></h1>
        <table>
          <thead><tr><th>environment</th><th>running</th><th>instances</th><th>last deployment</th><th>in flight</th></tr></thead>
          <tbody id="environments"></tbody>
        </table>
        <div id="records"></div>
        <script src="/status.js"></script>
        </body>
        </html>

        """

    static let script = """
        "use strict";
        function element(tag, text, className) {
          const node = document.createElement(tag);
          if (text !== undefined && text !== null) node.textContent = String(text);
          if (className) node.className = className;
          return node;
        }
        const shownRecords = {};
        async function refresh() {
          let environments;
          try {
            environments = await (await fetch("/api/environments", { cache: "no-store" })).json();
          } catch (error) {
            document.getElementById("updated").textContent = "— the daemon does not answer";
            return;
          }
          const body = document.getElementById("environments");
          body.replaceChildren();
          for (const env of environments) {
            const row = element("tr");
            row.dataset.environment = env.environment;
            row.append(element("td", env.environment));
            const running = element("td", env.version ? `${env.service} ${env.version}` : env.instances.length ? "no release has succeeded yet" : "nothing running");
            if (env.desiredVersion && env.desiredVersion !== env.version) running.append(element("div", `desired ${env.desiredVersion}`));
            if (env.failed) running.append(element("div", env.failed, "failed"));
            if (env.suspended) running.append(element("div", `suspended: ${env.suspended}`));
            row.append(running);
            const instances = element("td");
            for (const instance of env.instances) {
              instances.append(element("span", `${instance.id} ${instance.version} ${instance.state}`, `instance ${instance.state}`));
            }
            row.append(instances);
            row.append(element("td", env.lastDeployment ? `${env.lastResult} — ${env.lastDeployment}` : "never deployed"));
            const flight = element("td");
            if (env.run) {
              const step = element("div", `${env.run.phase}: ${env.run.step}`, "step");
              flight.append(step);
              const bar = element("div", null, "bar"), fill = element("div");
              fill.style.width = `${Math.max(0, Math.min(100, env.run.percent))}%`;
              bar.append(fill);
              flight.append(bar, element("div", `${env.run.percent}%`));
            }
            if (env.approval) {
              const box = element("div", null, "approval");
              box.append(element("div", "waiting for approval"));
              const list = element("ul");
              for (const item of env.approval.checklist) list.append(element("li", item));
              box.append(list, element("code", env.approval.command));
              flight.append(box);
            }
            row.append(flight);
            body.append(row);
            if (shownRecords[env.environment] !== env.lastDeployment) {
              shownRecords[env.environment] = env.lastDeployment;
              showRecord(env.environment);
            }
          }
          document.getElementById("updated").textContent = `— ${new Date().toLocaleTimeString()}`;
        }
        async function showRecord(environment) {
          const records = await (await fetch(`/api/environments/${encodeURIComponent(environment)}/records`, { cache: "no-store" })).json();
          const id = `record-${environment}`;
          let section = document.getElementById(id);
          if (!section) {
            section = element("details");
            section.id = id;
            section.open = true;
            document.getElementById("records").append(section);
          }
          section.replaceChildren(element("summary", records.length ? `${environment}: ${records[0].path}` : `${environment}: no record yet`));
          if (records.length) section.append(element("pre", records[0].text));
        }
        refresh();
        setInterval(refresh, 1000);

        """
}
