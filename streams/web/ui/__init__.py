"""The agent desktop's static single-page app (index.html, app.js, app.css), served at /ui/."""
