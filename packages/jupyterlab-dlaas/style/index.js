import './base.css';
import './attachments.css';
import './downloads.css';
